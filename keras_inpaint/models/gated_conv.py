"""DeepFill v2: free-form inpainting with gated convolutions (Yu et al., ICCV 2019)."""

import keras
import tensorflow as tf
from keras import ops

from keras_inpaint.arguments import is_finite_number
from keras_inpaint.layers import ContextualAttention, GatedConv2D
from keras_inpaint.losses.adversarial import hinge_discriminator_loss, hinge_generator_loss
from keras_inpaint.losses.reconstruction import masked_l1
from keras_inpaint.models.base import (
    InpaintingModel,
    binarize_mask,
    composite,
    split_inputs,
    to_signed,
    to_unit,
)
from keras_inpaint.models.discriminators import build_sn_patch_gan
from keras_inpaint.models.local_crop import flow_at_image_size, run_padded_stages
from keras_inpaint.models.resize import NearestResize

DOWNSAMPLING = 4
"""The generator's encoders halve the resolution twice; contextual attention then works at
1/4 resolution and downsamples by its own `rate` again."""

DISCRIMINATOR_CHANNELS_AT_REFERENCE_WIDTH = 64
"""SN-PatchGAN's first-layer channels in the paper, at the authors' generator width 48."""

REFERENCE_WIDTH = 48
"""The authors' ``cnum``."""

DILATION_RATES = (2, 4, 8, 16)
"""Dilations of the four dilated gated convolutions in the coarse and the refinement network."""

GATED_KERNEL_INITIALIZER_SCALE = 4.0
"""Gated kernels start from N(0, scale / fan_in) (truncated): near 0, elu(F) * sigmoid(G) is
about F / 2, so a variance of 4 / fan_in keeps the activations' scale through the 17-layer
stacks. The authors' code used TF1's default Glorot-uniform, with which the activations shrink
about 2.5x per layer (standard deviation 1e-7 after 17 layers, measured here), so training starts
from an output that ignores the input."""


@keras.saving.register_keras_serializable(package="keras_inpaint")
class GatedConvInpainter(InpaintingModel):
    """DeepFill v2 (Yu et al., ICCV 2019): gated convolutions, contextual attention, SN-PatchGAN.

    Paper: J. Yu, Z. Lin, J. Yang, X. Shen, X. Lu, T. S. Huang, "Free-Form Image Inpainting
    with Gated Convolution", ICCV 2019 (arXiv:1806.03589); its code is release v2.0.0 of
    github.com/JiahuiYu/generative_inpainting, whose graph this model mirrors layer by layer.

    Architecture (c = `width`, the authors' ``cnum`` = 48; every convolution is a
    `GatedConv2D` with ``2 * filters`` outputs split into features and gates, ELU features,
    zero "same" padding as in the released code; "gconv(k, n)" below has n output channels):

    - Input: ``[x * (1 - m), g * m, 1, m]`` with the image x in [-1, 1], the mask m (1 = hole),
      the optional user guidance g (`guidance_channels`, e.g. a sketch, in [0, 1]).
    - Coarse network: gconv(5, c/2) ``conv1``, gconv(3, c) stride 2 ``conv2_downsample``,
      gconv(3, c) ``conv3``, gconv(3, 2c) stride 2 ``conv4_downsample``, gconv(3, 2c)
      ``conv5``, ``conv6``, dilated gconv(3, 2c) with rates 2, 4, 8, 16
      ``conv7_atrous`` .. ``conv10_atrous``, gconv(3, 2c) ``conv11``, ``conv12``, nearest x2
      upsampling + gconv(3, c) ``conv13_upsample_conv``, gconv(3, c) ``conv14``, x2 +
      gconv(3, c/2) ``conv15_upsample_conv``, gconv(3, c/4) ``conv16``, then a plain (not
      gated) 3x3 convolution to RGB ``conv17`` and tanh: the coarse result y1.
    - Refinement network, fed the 3-channel image ``y1 * m + x * (1 - m)`` only:
      a dilated branch ``xconv1`` .. ``xconv10_atrous`` (as conv1-conv10, with c/2, c/2, c, c,
      2c.. channels) and an attention branch ``pmconv1`` .. ``pmconv6`` (ReLU features on
      pmconv6), `ContextualAttention` (3x3 patches, stride 1, rate 2, fuse 3, softmax scale 10)
      with the hole mask resized to 1/4 resolution, ``pmconv9``, ``pmconv10``; the two
      branches are concatenated and decoded by ``allconv11`` .. ``allconv17`` (as conv11 ..
      conv17) and tanh: the refined result y2.
    - Discriminator: SN-PatchGAN (`build_sn_patch_gan`) on ``[image, m, g * m]`` (the
      authors' ``gan_with_mask``), six 5x5 stride-2 spectrally normalised convolutions with
      ``d * (1, 2, 4, 4, 4, 4)`` channels, ``d = 64 * width / 48`` unless
      `discriminator_width` is given, leaky ReLU 0.2, flattened patch scores.

    Losses (images in [-1, 1], mean over every element):
        L_G = l1_weight * (mean(w * |x - y1|) + mean(w * |x - y2|)) + adversarial_weight * L_adv
        w = m + known_l1_weight * (1 - m)         (known_l1_weight = 1, the paper: w = 1)
        L_adv = -mean(D(x_hat)),  x_hat = y2 * m + x * (1 - m)           (hinge, eq. 2)
        L_D = mean(relu(1 - D(x))) + mean(relu(1 + D(x_hat)))            (eq. 2)
    with weights 1 : 1 (section 4), Adam with learning rate 1e-4, beta_1 0.5 and beta_2
    0.999 for both networks. One `train_step` runs the generator and the discriminator once
    on the batch and updates both networks from that forward pass.

    Where this differs from the authors' code, and why:
    - Every sample has its own mask; the authors used one mask for the whole batch (and their
      contextual attention read the first sample's mask only).
    - The discriminator and generator steps share one forward pass on one batch; the authors'
      trainer ran the discriminator step on a batch of its own (also 1 : 1).
    - L_D is the paper's equation 2; the authors' ``gan_hinge_loss`` halves both terms (a
      constant factor that Adam's normalised steps nearly cancel).
    - Spectral normalisation is `keras.layers.SpectralNormalization`, which stores W / sigma
      in the kernel at each training forward pass; the authors divided on the fly.
    - With ``reference_compatibility=False`` (default) nearest resizes repeat / skip pixels
      and contextual attention divides pasted patches by the true overlap count
      (``paste_normalization="overlap"``); ``True`` reproduces TF1's
      ``resize_nearest_neighbor(align_corners=True)`` everywhere, the fixed division by 4
      and the authors' spectral normalisation (`SpectralNorm`: W / sigma from the stored
      kernel at every forward pass, also at inference), which the authors' checkpoints need
      (see `keras_inpaint.models.resize` and `keras_inpaint.convert`). Both settings train;
      the weights have the same names and shapes in both.
    - Height and width need not be multiples of 8 (= 4 x attention rate): `generate` pads
      the input by reflection to the next multiple and crops the result.
    - Gated kernels are initialised from N(0, 4 / fan_in) instead of TF1's Glorot-uniform,
      with which the activations vanish through the 17-layer stacks
      (`GATED_KERNEL_INITIALIZER_SCALE`); trained or converted weights are unaffected.

    Layer names follow the authors' variable names: their ``inpaint_net/<name>/kernel``
    [k, k, C_in, n] is our generator layer ``<name>``'s kernel (``<name>/conv/kernel`` inside
    `GatedConv2D`; ``conv17`` / ``allconv17`` are plain `Conv2D`); their
    ``<stage>NN_upsample/<stage>NN_upsample_conv`` is our ``<stage>NN_upsample_conv``, after the
    `NearestResize` layer ``<stage>NN_upsample``; their ``discriminator/sn_patch_gan/convK/
    kernel`` and ``kernel_sn/u`` are our discriminator layer ``convK``'s
    ``convK_convolution/kernel`` and ``vector_u`` (`keras_inpaint.convert` converts them; it
    stores the u preceding theirs, see `keras_inpaint.convert.deepfill_v2.preceding_vector_u`).

    Shapes: `generate` / `call` take image [B, H, W, 3] in [0, 1], mask [B, H, W, 1] (1 =
    hole) and, when `guidance_channels` > 0, ``inputs["guidance"]`` [B, H, W, G] in [0, 1]
    (zeros when absent at inference; required by `train_step`). `generate_stages` returns
    the coarse and refined results [B, H, W, 3] in [0, 1] and the colour-coded attention flow
    [B, ceil(H/8), ceil(W/8), 3].

    Args:
        image_size: training resolution (int or (height, width)); any size works at inference.
        width: c, the generator's base channel count (48 in the paper); a multiple of 4.
        guidance_channels: extra user-guidance input channels (0 = none; the paper's sketch
            channel is 1).
        l1_weight: weight of the two pixel-wise L1 terms (1, section 4).
        known_l1_weight: weight of the known pixels in the L1 terms, relative to the hole's
            (1, the paper: every pixel alike). Only hole pixels reach a completed image
            (both stages' outputs are pasted into the known pixels), and an L1 gradient has the
            same size however small a pixel's error, so below 1 the generator spends its
            updates on the hole; 0 is a hole-only L1 (not in the paper; a fine-tuning option).
        adversarial_weight: weight of the SN-PatchGAN generator loss (1, section 4); 0 trains
            the generator on the L1 terms alone and skips the discriminator (its losses are
            reported as 0), e.g. to fine-tune for PSNR.
        learning_rate: Adam learning rate of both networks (1e-4).
        beta_1, beta_2: Adam moments (0.5, 0.999).
        discriminator_width: first SN-PatchGAN layer's channels; None = 64 * width / 48.
        attention_rate: contextual attention's downsampling rate (2).
        attention_softmax_scale: contextual attention's softmax scale (10).
        attention_fuse_size: contextual attention's fuse kernel size (3).
        reference_compatibility: reproduce the authors' TF1 resizing, attention paste
            normalisation and spectral normalisation exactly (for converted checkpoints).
        **kwargs: `keras.Model` arguments (``name``, ``dtype``).

    Example:
    >>> model = GatedConvInpainter(image_size=64, width=8)
    >>> model.compile()
    >>> batch = {"image": np.random.rand(2, 64, 64, 3).astype("float32"),
    ...          "mask": np.zeros((2, 64, 64, 1), "float32")}
    >>> model(batch).shape
    TensorShape([2, 64, 64, 3])
    """

    loss_terms = (
        "coarse_l1",
        "refined_l1",
        "generator_adversarial",
        "generator_loss",
        "discriminator_loss",
    )
    default_masks = "free_form+rectangle"
    architecture_arguments = ("width", "guidance_channels", "discriminator_width")

    def __init__(
        self,
        image_size=256,
        width=48,
        guidance_channels=0,
        l1_weight=1.0,
        known_l1_weight=1.0,
        adversarial_weight=1.0,
        learning_rate=1e-4,
        beta_1=0.5,
        beta_2=0.999,
        discriminator_width=None,
        attention_rate=2,
        attention_softmax_scale=10.0,
        attention_fuse_size=3,
        reference_compatibility=False,
        **kwargs,
    ):
        super().__init__(image_size=image_size, **kwargs)
        if isinstance(width, bool) or not isinstance(width, int) or width < 4 or width % 4:
            raise ValueError(f"width must be a positive multiple of 4, received {width!r}")
        if isinstance(guidance_channels, bool) or not isinstance(guidance_channels, int) or (
            guidance_channels < 0
        ):
            raise ValueError(
                f"guidance_channels must be a non-negative int, received {guidance_channels!r}"
            )
        if not is_finite_number(known_l1_weight) or known_l1_weight < 0:
            raise ValueError(
                f"known_l1_weight must be a finite number >= 0, received {known_l1_weight!r}"
            )
        self.width = width
        self.guidance_channels = guidance_channels
        self.l1_weight = l1_weight
        self.known_l1_weight = known_l1_weight
        self.adversarial_weight = adversarial_weight
        self.learning_rate = learning_rate
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.discriminator_width = discriminator_width
        self.attention_rate = attention_rate
        self.attention_softmax_scale = attention_softmax_scale
        self.attention_fuse_size = attention_fuse_size
        self.reference_compatibility = reference_compatibility
        with self.network_scope():
            self.generator = self._build_generator()
            self.discriminator = build_sn_patch_gan(
                input_channels=3 + 1 + guidance_channels,
                channels=self.discriminator_channels,
                reference_compatibility=reference_compatibility,
            )
        self.finish_building()

    @property
    def discriminator_channels(self):
        """First SN-PatchGAN layer's channels: `discriminator_width` or 64 * width / 48."""
        if self.discriminator_width:
            return self.discriminator_width
        scaled = DISCRIMINATOR_CHANNELS_AT_REFERENCE_WIDTH * self.width / REFERENCE_WIDTH
        return max(1, round(scaled))

    # ---- networks -----------------------------------------------------------------------
    def _build_generator(self):
        """The coarse and refinement networks as one functional model (see class docstring)."""
        c = self.width
        align = self.reference_compatibility
        incomplete = keras.Input((None, None, 3 + self.guidance_channels), name="incomplete")
        mask = keras.Input((None, None, 1), name="mask")

        # Stage 1: coarse network on [x * (1 - m), g * m, ones, m].
        x = ops.concatenate([incomplete, ops.ones_like(mask), mask], axis=-1)
        x = _encoder(x, "conv", (c, 2 * c, 2 * c, 4 * c, 4 * c, 4 * c))
        x = _dilated_block(x, "conv", 4 * c)
        coarse = _decoder(x, "conv", c, align)

        # Stage 2: refinement network on the coarse result pasted into the known pixels.
        pasted = coarse * mask + incomplete[..., :3] * (1.0 - mask)
        hallucinated = _encoder(pasted, "xconv", (c, c, 2 * c, 2 * c, 4 * c, 4 * c))
        hallucinated = _dilated_block(hallucinated, "xconv", 4 * c)

        x = _encoder(pasted, "pmconv", (c, c, 2 * c, 4 * c, 4 * c, 4 * c), last_activation="relu")
        small_mask = NearestResize(align_corners=align, dtype="float32", name="mask_resize")(
            mask, reference=x
        )
        x, flow = ContextualAttention(
            patch_size=3,
            stride=1,
            rate=self.attention_rate,
            fuse_size=self.attention_fuse_size,
            softmax_scale=self.attention_softmax_scale,
            return_flow=True,
            paste_normalization="reference" if align else "overlap",
            resize_align_corners=align,
            name="contextual_attention",
        )(x, x, small_mask)
        x = _gated(4 * c, 3, "pmconv9")(x)
        x = _gated(4 * c, 3, "pmconv10")(x)
        x = keras.layers.Concatenate(name="branches")([hallucinated, x])
        refined = _decoder(x, "allconv", c, align)
        return keras.Model(
            [incomplete, mask], [coarse, refined, flow], name="deepfill_v2_generator"
        )

    # ---- inference ----------------------------------------------------------------------
    @property
    def size_multiple(self):
        """Height and width the generator needs to be divisible by (4 x attention rate)."""
        return DOWNSAMPLING * self.attention_rate

    def call(self, inputs, training=False):
        """Composited inpainting; reads ``inputs["guidance"]`` when the model is guided."""
        image, mask = split_inputs(inputs)
        mask = binarize_mask(mask)
        guidance = self._read_guidance(inputs, image, required=False)
        generated = self.generate(image, mask, training=training, guidance=guidance)
        return composite(image, mask, generated)

    def generate(self, image, mask, training=False, guidance=None):
        """The refined raw fill in [0, 1], float32 [B, H, W, 3]."""
        return self.generate_stages(image, mask, training=training, guidance=guidance)[1]

    def generate_stages(self, image, mask, training=False, guidance=None):
        """``(coarse, refined, flow)``: both stages' raw outputs in [0, 1], and the attention
        flow image [B, ceil(H/8), ceil(W/8), 3] in [0, 1], all float32.

        Args:
            image: [B, H, W, 3] in [0, 1].
            mask: [B, H, W, 1], 1 = hole (binarised at 0.5).
            training: forwarded to the networks.
            guidance: [B, H, W, guidance_channels] in [0, 1] or None (zeros).
        """
        image = ops.cast(image, "float32")
        mask = binarize_mask(mask)
        if guidance is None and self.guidance_channels:
            shape = tf.shape(image)
            guidance = tf.zeros([shape[0], shape[1], shape[2], self.guidance_channels])
        coarse, refined, flow = self._run_generator(to_signed(image), mask, guidance, training)
        return to_unit(coarse), to_unit(refined), flow

    def _run_generator(self, signed_image, mask, guidance, training):
        """Generator outputs in [-1, 1] (flow in [0, 1]) for any height and width: the inputs
        are reflect-padded to a multiple of `size_multiple` (mirrored first if under 5 pixels)
        and the outputs cropped back (`run_padded_stages`)."""
        incomplete = signed_image * (1.0 - mask)
        if self.guidance_channels:
            incomplete = ops.concatenate([incomplete, guidance * mask], axis=-1)
        return run_padded_stages(
            self.generator, incomplete, mask, self.size_multiple, training=training
        )

    def summary_images(self, inputs):
        """The composited output, the coarse result and the attention flow (nearest-upsampled
        to the image size), from one run of the generator."""
        image, mask = split_inputs(inputs)
        mask = binarize_mask(mask)
        guidance = self._read_guidance(inputs, image, required=False)
        coarse, refined, flow = self.generate_stages(image, mask, guidance=guidance)
        return {
            "output": composite(image, mask, refined),
            "coarse": coarse,
            "attention_flow": flow_at_image_size(flow, image),
        }

    def _read_guidance(self, inputs, image, required):
        """``inputs["guidance"]`` as float32 [B, H, W, guidance_channels], checked.

        None for an unguided model; zeros for a guided one when absent and not `required`.
        """
        batch = inputs[0] if isinstance(inputs, (tuple, list)) else inputs
        guidance = batch.get("guidance")
        if not self.guidance_channels:
            if guidance is not None:
                raise ValueError(
                    'received a "guidance" input but the model has guidance_channels=0; '
                    "construct it with guidance_channels=<channels> to use guidance"
                )
            return None
        if guidance is None:
            if required:
                raise ValueError(
                    f'inputs must have a "guidance" key [B, H, W, {self.guidance_channels}] '
                    f"(guidance_channels={self.guidance_channels}), received keys {sorted(batch)}"
                )
            return None
        guidance = ops.cast(guidance, "float32")
        expected = (*tuple(image.shape)[:3], self.guidance_channels)
        received = tuple(guidance.shape)
        if len(received) != 4 or any(
            a is not None and b is not None and a != b for a, b in zip(received, expected)
        ):
            raise ValueError(
                f"guidance must have shape {expected} (image batch, height, width and "
                f"guidance_channels), received shape {received}"
            )
        return guidance

    # ---- training -----------------------------------------------------------------------
    def default_optimizers(self):
        """Adam(1e-4, beta_1=0.5, beta_2=0.999) for both networks (Yu et al. 2019, sec. 4)."""
        return {
            name: keras.optimizers.Adam(
                learning_rate=self.learning_rate, beta_1=self.beta_1, beta_2=self.beta_2
            )
            for name in ("generator", "discriminator")
        }

    def _discriminate(self, signed_images, mask, guidance):
        """SN-PatchGAN scores (float32) of [image, mask, guidance * mask], in training mode (the
        spectral normalisation's power iteration runs at every pass, as in the authors' code)."""
        channels = [signed_images, mask]
        if self.guidance_channels:
            channels.append(guidance * mask)
        scores = self.discriminator(ops.concatenate(channels, axis=-1), training=True)
        return ops.cast(scores, "float32")

    def train_step(self, data):
        image, mask = split_inputs(data)
        mask = binarize_mask(mask)
        guidance = self._read_guidance(data, image, required=True)
        target = to_signed(image)
        adversarial = bool(self.adversarial_weight)
        with tf.GradientTape() as generator_tape, tf.GradientTape() as discriminator_tape:
            coarse, refined, _ = self._run_generator(target, mask, guidance, training=True)
            pixel_weights = mask + self.known_l1_weight * (1.0 - mask)
            coarse_l1 = masked_l1(target, coarse, pixel_weights)
            refined_l1 = masked_l1(target, refined, pixel_weights)
            if adversarial:
                discriminator_loss, generator_adversarial = self._adversarial_losses(
                    target, refined, mask, guidance
                )
            else:  # adversarial_weight=0: L1 alone; the discriminator neither runs nor learns
                discriminator_loss = generator_adversarial = ops.zeros((), "float32")
            generator_loss = (
                self.l1_weight * (coarse_l1 + refined_l1)
                + self.adversarial_weight * generator_adversarial
            )
            scaled_generator_loss, scaled_discriminator_loss = self.scale_losses(
                generator_loss, discriminator_loss
            )
        if adversarial:
            self.minimize_discriminator_then_generator(
                discriminator_tape, scaled_discriminator_loss, generator_tape, scaled_generator_loss
            )
        else:
            self.minimize(
                self.generator_optimizer,
                generator_tape,
                scaled_generator_loss,
                self.generator_variables,
            )
        return self.record(
            {
                "coarse_l1": coarse_l1,
                "refined_l1": refined_l1,
                "generator_adversarial": generator_adversarial,
                "generator_loss": generator_loss,
                "discriminator_loss": discriminator_loss,
            }
        )

    def _adversarial_losses(self, target, refined, mask, guidance):
        """SN-PatchGAN hinge losses (discriminator, generator) of the real and completed images,
        which go through the discriminator as one batch."""
        completed = composite(target, mask, refined)
        scores = self._discriminate(
            ops.concatenate([target, completed], axis=0),
            ops.concatenate([mask, mask], axis=0),
            None if guidance is None else ops.concatenate([guidance, guidance], axis=0),
        )
        real_scores, fake_scores = ops.split(scores, 2, axis=0)
        return (
            hinge_discriminator_loss(real_scores, fake_scores),
            hinge_generator_loss(fake_scores),
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "width": self.width,
                "guidance_channels": self.guidance_channels,
                "l1_weight": self.l1_weight,
                "known_l1_weight": self.known_l1_weight,
                "adversarial_weight": self.adversarial_weight,
                "learning_rate": self.learning_rate,
                "beta_1": self.beta_1,
                "beta_2": self.beta_2,
                "discriminator_width": self.discriminator_width,
                "attention_rate": self.attention_rate,
                "attention_softmax_scale": self.attention_softmax_scale,
                "attention_fuse_size": self.attention_fuse_size,
                "reference_compatibility": self.reference_compatibility,
            }
        )
        return config


def _gated(filters, kernel_size, name, strides=1, dilation_rate=1, activation="elu"):
    """The authors' ``gen_conv(x, filters, ...)``: a gated convolution with filters / 2 outputs."""
    return GatedConv2D(
        filters // 2,
        kernel_size,
        strides=strides,
        dilation_rate=dilation_rate,
        activation=activation,
        kernel_initializer=keras.initializers.VarianceScaling(
            GATED_KERNEL_INITIALIZER_SCALE, mode="fan_in", distribution="truncated_normal"
        ),
        name=name,
    )


def _encoder(x, prefix, filters, last_activation="elu"):
    """Layers 1-6: gconv 5x5, then 3x3 with strides 2, 1, 2, 1, 1."""
    names = ("1", "2_downsample", "3", "4_downsample", "5", "6")
    strides = (1, 2, 1, 2, 1, 1)
    for index, (suffix, n, stride) in enumerate(zip(names, filters, strides)):
        activation = last_activation if index == len(names) - 1 else "elu"
        x = _gated(n, 5 if index == 0 else 3, f"{prefix}{suffix}", stride, activation=activation)(x)
    return x


def _dilated_block(x, prefix, filters):
    """Layers 7-10: dilated 3x3 gated convolutions with rates 2, 4, 8, 16."""
    for index, rate in enumerate(DILATION_RATES, start=7):
        x = _gated(filters, 3, f"{prefix}{index}_atrous", dilation_rate=rate)(x)
    return x


def _decoder(x, prefix, c, align_corners):
    """Layers 11-17: gconvs, two nearest x2 upsamplings, the RGB convolution and tanh."""
    x = _gated(4 * c, 3, f"{prefix}11")(x)
    x = _gated(4 * c, 3, f"{prefix}12")(x)
    for index, upsampled, after in ((13, 2 * c, 2 * c), (15, c, c // 2)):
        x = NearestResize(scale=2, align_corners=align_corners, name=f"{prefix}{index}_upsample")(x)
        x = _gated(upsampled, 3, f"{prefix}{index}_upsample_conv")(x)
        x = _gated(after, 3, f"{prefix}{index + 1}")(x)
    x = keras.layers.Conv2D(3, 3, padding="same", name=f"{prefix}17")(x)
    return keras.layers.Activation("tanh", dtype="float32", name=f"{prefix}_output")(x)
