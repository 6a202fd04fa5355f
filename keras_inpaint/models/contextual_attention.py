"""DeepFill v1: generative inpainting with contextual attention (Yu et al., CVPR 2018)."""

import keras
import tensorflow as tf
from keras import ops

from keras_inpaint.layers import ContextualAttention
from keras_inpaint.losses.adversarial import (
    masked_gradient_penalty,
    wasserstein_critic_loss,
    wasserstein_generator_loss,
)
from keras_inpaint.losses.reconstruction import masked_l1, spatial_discount_weights
from keras_inpaint.models.base import (
    InpaintingModel,
    binarize_mask,
    composite,
    split_inputs,
    to_signed,
    to_unit,
)
from keras_inpaint.models.local_crop import (
    crop_at,
    flow_at_image_size,
    hole_centred_offsets,
    resolve_local_size,
    run_padded_stages,
)
from keras_inpaint.models.resize import NearestResize

DOWNSAMPLING = 4
"""Both generator stages work at 1/4 resolution in their bottleneck (two stride-2 convs)."""

ATTENTION_RATE = 2
"""Contextual attention matches patches at half the bottleneck resolution (paper, sec. 4.1)."""

DILATION_RATES = (2, 4, 8, 16)
"""Dilations of the four atrous convolutions in the coarse and the refinement networks."""

PADDINGS = ("symmetric", "same")
"""Convolution padding: the paper's mirror padding (the authors' ``SYMMETRIC`` mode) or zeros."""

MIRROR_PADDING_MIN_SIZE = DOWNSAMPLING * DILATION_RATES[-1]
"""Smallest height and width the generator takes with mirror padding (64): the rate-16
convolutions mirror 16 pixels of the 1/4-resolution features, which must have that many."""

CRITIC_WIDTH_RATIO = 2
"""The critics' first layer has 2 x `width` filters (64 for the authors' cnum = 32)."""

LOCAL_CRITIC_MULTIPLIERS = (1, 2, 4, 8)
GLOBAL_CRITIC_MULTIPLIERS = (1, 2, 4, 4)
"""Filter multipliers of the critics' 5x5 stride-2 convolutions (64-128-256-512 / -256)."""

LEAKY_RELU_SLOPE = 0.2
"""Slope of the critics' leaky ReLU (TensorFlow's ``leaky_relu`` default, as the authors)."""


@keras.saving.register_keras_serializable(package="keras_inpaint")
class ContextualAttentionInpainter(InpaintingModel):
    """DeepFill v1 (Yu, Lin, Yang, Shen, Lu, Huang, "Generative Image Inpainting with
    Contextual Attention", CVPR 2018), trained with global and local WGAN-GP critics.

    **Generator** (paper sec. 3 and fig. 2; layer names and order follow the authors' v1.0.0
    ``inpaint_net`` so that their checkpoints convert). Inputs are ``x = image * (1 - m)`` in
    [-1, 1] and the hole mask m. Every convolution has an ELU, no normalisation, and
    ``padding`` ("symmetric": the paper's mirror padding, ``rate * (k - 1) / 2`` pixels on each
    side then a valid convolution, as the authors' ``gen_conv``; "same": zeros). With
    c = `width`, ``conv(k, n, s, r)`` a k x k convolution to n channels with stride s and
    dilation r, and ``up(n)`` a x2 nearest upsampling followed by ``conv(3, n)``:

    - coarse network on ``[x, 1, m]``: conv(5, c), conv(3, 2c, 2), conv(3, 2c), conv(3, 4c, 2),
      conv(3, 4c) x 2, conv(3, 4c, r) for r = 2, 4, 8, 16, conv(3, 4c) x 2, up(2c),
      conv(3, 2c), up(c), conv(3, c/2), conv(3, 3) without activation, clipped to [-1, 1]
      (the paper clips instead of squashing with tanh or sigmoid);
    - refinement network on ``[x1, 1, m]`` with ``x1 = coarse * m + x * (1 - m)``: a dilated
      branch (conv(5, c), conv(3, c, 2), conv(3, 2c), conv(3, 2c, 2), conv(3, 4c) x 2,
      conv(3, 4c, r) for r = 2, 4, 8, 16) and an attention branch (conv(5, c), conv(3, c, 2),
      conv(3, 2c), conv(3, 4c, 2), conv(3, 4c), conv(3, 4c) with ReLU, `ContextualAttention`
      (3x3 patches, stride 1, rate 2, softmax scale 10, fuse 3) with the mask at 1/4
      resolution, conv(3, 4c) x 2), concatenated and decoded as the coarse network
      (conv(3, 4c) x 2, up(2c), conv(3, 2c), up(c), conv(3, c/2), conv(3, 3), clip).

    Gradients flow from the refinement network into the coarse one, as in the authors' code.

    **Critics** (sec. 3.1): a global critic on the whole image (four 5x5 stride-2 convolutions
    with 2c, 4c, 8c, 8c filters and leaky ReLU 0.2, flatten, dense to 1: ``dout_global_fc``)
    and a local critic on the `local_size` window centred on each sample's hole (2c, 4c, 8c,
    16c filters, ``dout_local_fc``); both see the composited image
    ``refined * m + image * (1 - m)`` in [-1, 1]. The dense heads have no bias (it cancels in
    every WGAN loss and never trains) unless `reference_compatibility` is set.

    **Losses** (sec. 3.1 and 4; the weights are those of the authors' released v1 config
    ``inpaint.yml``, whose names are given with each argument below). With y the real image,
    x1 / x2 the coarse / refined outputs, w = `spatial_discount_weights` (gamma ** l on hole
    pixels, l the distance to the nearest known pixel, 0 on known pixels) and D_g, D_l the
    critics:

        l1_loss   = (coarse_l1_weight * sum(w |y - x1|) + sum(w |y - x2|)) / (3 sum(w))
        ae_loss   = (coarse_l1_weight * sum((1-m) |y - x1|) + sum((1-m) |y - x2|)) / (3 sum(1-m))
        adversarial_loss = -global_gan_weight * mean D_g(fake) - mean D_l(crop(fake))
        generator_loss = gan_weight * adversarial_loss + l1_weight * l1_loss + ae_weight * ae_loss
        critic_loss = sum over D in (D_g, D_l) of mean D(fake) - mean D(real)
        gradient_penalty = gp_weight * sum over (D_g, D_l) of mean_b (||grad D(x_hat) * m||_2 - 1)^2

    (WGAN-GP, Gulrajani et al. 2017, with the gradient counted on hole pixels only; x_hat
    interpolates real and fake with one U(0, 1) weight per sample.) Each `train_step` runs
    `critic_steps` critic updates, then one generator update.

    **Where our defaults differ from the authors' released code, and why:**

    - ``gamma = 0.99`` is the paper's; their ``inpaint.yml`` used 0.9.
    - Masks, local windows and attention are per sample; their code shared one rectangle (and
      one attention mask) across the batch. ``default_masks`` is "rectangle" (96-128 pixel
      sides at 256, as their 128 x 128 box shrunk by up to 32).
    - Their discounted L1 is taken over the local 128 x 128 box with the discount measured
      from the box border, divided by the box area; ours measures the distance from the actual
      known pixels (the paper's definition) and normalises by the sum of the weights, so
      ``l1_loss`` is a weighted mean absolute error over the hole.
    - Their gradient penalty used ``sqrt(mean(g^2 * m))``; ours the norm ``||g * m||_2`` of
      WGAN-GP and the paper's equation.
    - Their v1 script ran 5 critic updates per generator update, each on a new batch; here the
      `critic_steps` (5) updates of a `train_step` share its batch, so one step is one
      generator iteration and the step needs no data-dependent control flow.
    - Contextual attention divides the pasted patches by the number of patches that overlap
      each pixel ("overlap" normalisation) instead of their fixed 4, unless
      `reference_compatibility` is set.

    ``reference_compatibility=True`` reproduces their graph for converted checkpoints: every
    nearest resize is TF1 ``resize_nearest_neighbor(align_corners=True)`` (x2 decoder
    upsampling, the mask resize and the downsampling inside contextual attention), the
    attention pastes are divided by 4 and the critics' heads have a bias. Their released
    ``inpaint.yml`` trained with ``PADDING: 'SAME'``; use ``padding="same"`` for such
    checkpoints. With both settings, this model loaded with the v1-format checkpoint of
    ``reference/deepfill_official`` (their graph run with random weights) gives their coarse
    and refined outputs to within 3e-6 and their critic scores.

    Shapes: inputs ``{"image": [B, H, W, 3] in [0, 1], "mask": [B, H, W, 1], 1 = hole}``; any
    H and W of at least one pixel (the generator pads by reflection to a multiple of 8 and crops
    back, after mirroring the image and its mask up to 5 pixels, or with ``padding="symmetric"``
    up to `MIRROR_PADDING_MIN_SIZE` (64): its rate-16 convolutions mirror 16 pixels of the
    1/4-resolution features); training batches are `image_size`, the local window
    `local_size`. Output: the composited image [B, H, W, 3] in [0, 1].

    Args:
        image_size: training size (the global critic's input), int or (height, width).
        width: c, the generator's base channel count (the authors' cnum, 32).
        local_size: the local critic's window, int or (height, width); None = half of
            `image_size` (128 at 256, the authors' box).
        gamma: spatial discount per pixel of distance (0.99 in the paper, sec. 3.1).
        coarse_l1_weight: weight of the coarse stage inside both L1 terms (COARSE_L1_ALPHA
            1.2; the refined stage has weight 1).
        l1_weight: weight of the discounted hole L1 (L1_LOSS_ALPHA 1.2).
        ae_weight: weight of the known-pixel L1 (AE_LOSS_ALPHA 1.2).
        gan_weight: weight of the WGAN generator loss (GAN_LOSS_ALPHA 0.001); 0 trains the
            generator on the L1 terms alone and skips the critics (their losses are reported
            as 0), e.g. to fine-tune for PSNR.
        global_gan_weight: weight of the global critic inside it (GLOBAL_WGAN_LOSS_ALPHA 1).
        gp_weight: gradient penalty lambda (WGAN_GP_LAMBDA 10, WGAN-GP's value).
        critic_steps: critic updates per `train_step` (5 in the authors' v1 script).
        learning_rate, beta_1, beta_2: Adam for generator and critics (1e-4, 0.5, 0.9 in the
            authors' v1 script).
        padding: "symmetric" (mirror, the paper) or "same" (zeros, the released config).
        reference_compatibility: reproduce the authors' resizes and attention normalisation
            (see above).
        seed: seed of the gradient penalty's interpolation weights (None: random).
        **kwargs: `InpaintingModel` / `keras.Model` arguments (``name``, ``dtype``).

    Example:
    >>> model = ContextualAttentionInpainter(image_size=64, width=8)
    >>> image = np.random.rand(2, 64, 64, 3).astype("float32")
    >>> mask = np.zeros((2, 64, 64, 1), "float32"); mask[:, 16:40, 20:44] = 1
    >>> model({"image": image, "mask": mask}).shape
    TensorShape([2, 64, 64, 3])
    >>> coarse, refined, flow = model.generate_stages(image, mask, return_flow=True)
    """

    loss_terms = (
        "generator_loss",
        "l1_loss",
        "ae_loss",
        "adversarial_loss",
        "critic_loss",
        "gradient_penalty",
    )
    default_masks = "rectangle"
    architecture_arguments = ("width", "local_size")

    def __init__(
        self,
        image_size=256,
        width=32,
        local_size=None,
        gamma=0.99,
        coarse_l1_weight=1.2,
        l1_weight=1.2,
        ae_weight=1.2,
        gan_weight=0.001,
        global_gan_weight=1.0,
        gp_weight=10.0,
        critic_steps=5,
        learning_rate=1e-4,
        beta_1=0.5,
        beta_2=0.9,
        padding="symmetric",
        reference_compatibility=False,
        seed=None,
        **kwargs,
    ):
        super().__init__(image_size=image_size, **kwargs)
        if isinstance(width, bool) or not isinstance(width, int) or width < 2 or width % 2:
            raise ValueError(f"width must be a positive even int, received {width!r}")
        if isinstance(critic_steps, bool) or not isinstance(critic_steps, int) or critic_steps < 1:
            raise ValueError(f"critic_steps must be a positive int, received {critic_steps!r}")
        if padding not in PADDINGS:
            raise ValueError(f"padding must be one of {PADDINGS}, received {padding!r}")
        self.width = width
        self.local_size = resolve_local_size(local_size, self.image_size)
        self.gamma = gamma
        self.coarse_l1_weight = coarse_l1_weight
        self.l1_weight = l1_weight
        self.ae_weight = ae_weight
        self.gan_weight = gan_weight
        self.global_gan_weight = global_gan_weight
        self.gp_weight = gp_weight
        self.critic_steps = critic_steps
        self.learning_rate = learning_rate
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.padding = padding
        self.reference_compatibility = reference_compatibility
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        with self.network_scope():
            self.generator = self._build_generator()
            critic_width = CRITIC_WIDTH_RATIO * width
            self.local_critic, self.global_critic = (
                _build_critic(
                    size, critic_width, multipliers, kind, head_bias=reference_compatibility
                )
                for size, multipliers, kind in (
                    (self.local_size, LOCAL_CRITIC_MULTIPLIERS, "local"),
                    (self.image_size, GLOBAL_CRITIC_MULTIPLIERS, "global"),
                )
            )
        self.finish_building()

    @property
    def discriminator_variables(self):
        return self.local_critic.trainable_variables + self.global_critic.trainable_variables

    # ---- networks -----------------------------------------------------------------------
    def _conv(self, x, filters, kernel_size, name, strides=1, dilation_rate=1, activation="elu"):
        """The authors' ``gen_conv``: mirror padding of rate * (k - 1) / 2, or "same"."""
        if self.padding == "same":
            padding = "same"
        else:
            amount = dilation_rate * (kernel_size - 1) // 2
            x = ops.pad(x, [[0, 0], [amount, amount], [amount, amount], [0, 0]], self.padding)
            padding = "valid"
        return keras.layers.Conv2D(
            filters,
            kernel_size,
            strides=strides,
            dilation_rate=dilation_rate,
            padding=padding,
            activation=activation,
            name=name,
        )(x)

    def _upsample(self, x, filters, name):
        """The authors' ``gen_deconv``: x2 nearest upsampling, then a 3x3 convolution."""
        x = NearestResize(scale=2, align_corners=self.reference_compatibility, name=name)(x)
        return self._conv(x, filters, 3, f"{name}_conv")

    def _encoder(self, x, prefix, channels, last_activation="elu"):
        """conv(5) then 3x3 convolutions; the 2nd and 4th have stride 2 (``*_downsample``)."""
        names = ("1", "2_downsample", "3", "4_downsample", "5", "6")
        for index, (suffix, filters) in enumerate(zip(names, channels)):
            x = self._conv(
                x,
                filters,
                5 if index == 0 else 3,
                f"{prefix}{suffix}",
                strides=2 if suffix.endswith("downsample") else 1,
                activation=last_activation if index == len(names) - 1 else "elu",
            )
        return x

    def _dilated(self, x, prefix):
        for index, rate in enumerate(DILATION_RATES, start=7):
            x = self._conv(x, 4 * self.width, 3, f"{prefix}{index}_atrous", dilation_rate=rate)
        return x

    def _decoder(self, x, prefix):
        """conv11, conv12, up 13, conv14, up 15, conv16, conv17 (no activation), clip."""
        c = self.width
        x = self._conv(x, 4 * c, 3, f"{prefix}11")
        x = self._conv(x, 4 * c, 3, f"{prefix}12")
        x = self._upsample(x, 2 * c, f"{prefix}13_upsample")
        x = self._conv(x, 2 * c, 3, f"{prefix}14")
        x = self._upsample(x, c, f"{prefix}15_upsample")
        x = self._conv(x, c // 2, 3, f"{prefix}16")
        x = self._conv(x, 3, 3, f"{prefix}17", activation=None)
        return ops.clip(x, -1.0, 1.0)

    def _build_generator(self):
        """Coarse and refinement networks as one functional model (see the class docstring)."""
        c = self.width
        incomplete = keras.Input((None, None, 3), name="incomplete")
        mask = keras.Input((None, None, 1), name="mask")
        ones = ops.ones_like(mask)

        x = ops.concatenate([incomplete, ones, ones * mask], axis=-1)
        x = self._encoder(x, "conv", (c, 2 * c, 2 * c, 4 * c, 4 * c, 4 * c))
        x = self._dilated(x, "conv")
        coarse = self._decoder(x, "conv")

        pasted = coarse * mask + incomplete * (1.0 - mask)
        stage2 = ops.concatenate([pasted, ones, ones * mask], axis=-1)
        hallucinated = self._encoder(stage2, "xconv", (c, c, 2 * c, 2 * c, 4 * c, 4 * c))
        hallucinated = self._dilated(hallucinated, "xconv")

        x = self._encoder(
            stage2, "pmconv", (c, c, 2 * c, 4 * c, 4 * c, 4 * c), last_activation="relu"
        )
        small_mask = NearestResize(
            align_corners=self.reference_compatibility, dtype="float32", name="mask_resize"
        )(mask, reference=x)
        x, flow = ContextualAttention(
            patch_size=3,
            stride=1,
            rate=ATTENTION_RATE,
            fuse_size=3,
            softmax_scale=10.0,
            return_flow=True,
            paste_normalization="reference" if self.reference_compatibility else "overlap",
            resize_align_corners=self.reference_compatibility,
            name="contextual_attention",
        )(x, x, small_mask)
        x = self._conv(x, 4 * c, 3, "pmconv9")
        x = self._conv(x, 4 * c, 3, "pmconv10")
        x = keras.layers.Concatenate(name="branches")([hallucinated, x])
        refined = self._decoder(x, "allconv")
        return keras.Model([incomplete, mask], [coarse, refined, flow], name="inpaint_net")

    # ---- inference ----------------------------------------------------------------------
    @property
    def size_multiple(self):
        """Height and width the generator needs to be divisible by (4 x attention rate)."""
        return DOWNSAMPLING * ATTENTION_RATE

    def generate(self, image, mask, training=False):
        """The refined raw fill in [0, 1], float32 [B, H, W, 3]."""
        return self.generate_stages(image, mask, training=training)[1]

    def generate_stages(self, image, mask, training=False, return_flow=False):
        """Both stages' raw outputs ``(coarse, refined)`` in [0, 1] (before compositing),
        float32 [B, H, W, 3]; with ``return_flow`` also the attention flow picture
        [B, ceil(H/8), ceil(W/8), 3] in [0, 1] (`ContextualAttention`'s colour-coded offsets).

        Args:
            image: [B, H, W, 3] in [0, 1].
            mask: [B, H, W, 1], 1 = hole (binarised at 0.5).
            training: forwarded to the networks.
            return_flow: also return the flow picture.
        """
        image = ops.cast(image, "float32")
        mask = binarize_mask(mask)
        coarse, refined, flow = self._run_generator(to_signed(image), mask, training)
        stages = (to_unit(coarse), to_unit(refined))
        return (*stages, flow) if return_flow else stages

    def attention_flow(self, inputs):
        """The attention flow picture of `inputs` at the image size, float32 [B, H, W, 3].

        Each pixel shows, by the Middlebury colour wheel (hue: direction, saturation:
        distance; white: no offset), where the contextual attention copies its patch from
        (paper fig. 5), nearest-upsampled from the attention resolution (1/8).
        """
        image, mask = split_inputs(inputs)
        _, _, flow = self.generate_stages(image, mask, return_flow=True)
        return flow_at_image_size(flow, image)

    def summary_images(self, inputs):
        """TensorBoard pictures from one run of the generator: the composited output, the
        coarse stage's output and the attention flow."""
        image, mask = split_inputs(inputs)
        mask = binarize_mask(mask)
        coarse, refined, flow = self.generate_stages(image, mask, return_flow=True)
        return {
            "output": composite(image, mask, refined),
            "coarse": coarse,
            "attention_flow": flow_at_image_size(flow, image),
        }

    def _run_generator(self, signed_image, mask, training):
        """Generator outputs in [-1, 1] (flow in [0, 1]), float32, for any height and width
        (with mirror padding, smaller images are mirrored up to `MIRROR_PADDING_MIN_SIZE`)."""
        return run_padded_stages(
            self.generator,
            signed_image * (1.0 - mask),
            mask,
            self.size_multiple,
            training=training,
            min_size=None if self.padding == "same" else MIRROR_PADDING_MIN_SIZE,
        )

    # ---- training -----------------------------------------------------------------------
    def default_optimizers(self):
        """Adam(1e-4, beta_1=0.5, beta_2=0.9) for the generator and the critics (v1 script)."""
        return {
            name: keras.optimizers.Adam(
                learning_rate=self.learning_rate, beta_1=self.beta_1, beta_2=self.beta_2
            )
            for name in ("generator", "discriminator")
        }

    def train_step(self, data):
        image, mask = split_inputs(data)
        mask = binarize_mask(mask)
        real = to_signed(image)
        with tf.GradientTape() as tape:
            coarse, refined, _ = self._run_generator(real, mask, training=True)
            if self.gan_weight:
                fake = composite(real, mask, refined)
                adversarial_loss, critic_loss, gradient_penalty = self._adversarial_terms(
                    real, fake, mask, tape
                )
            else:  # gan_weight=0: the L1 terms alone; the critics neither run nor learn
                adversarial_loss = critic_loss = gradient_penalty = ops.zeros((), "float32")
            discount = spatial_discount_weights(mask, gamma=self.gamma)
            l1_loss = self._two_stage_l1(real, coarse, refined, discount)
            ae_loss = self._two_stage_l1(real, coarse, refined, 1.0 - mask)
            generator_loss = (
                self.gan_weight * adversarial_loss
                + self.l1_weight * l1_loss
                + self.ae_weight * ae_loss
            )
            scaled_loss = self.scale_loss(self.generator_optimizer, generator_loss)
        self.minimize(self.generator_optimizer, tape, scaled_loss, self.generator_variables)
        return self.record(
            {
                "generator_loss": generator_loss,
                "l1_loss": l1_loss,
                "ae_loss": ae_loss,
                "adversarial_loss": adversarial_loss,
                "critic_loss": critic_loss,
                "gradient_penalty": gradient_penalty,
            }
        )

    def _adversarial_terms(self, real, fake, mask, tape):
        """`critic_steps` critic updates (not recorded on the generator's `tape`), then the
        generator's WGAN loss on both critics: (adversarial_loss, critic_loss, penalty)."""
        top, left = hole_centred_offsets(mask, self.local_size)

        def local(images):
            return crop_at(images, top, left, self.local_size)

        with tape.stop_recording():
            for _ in range(self.critic_steps):
                critic_loss, gradient_penalty = self._critic_step(
                    real, ops.stop_gradient(fake), mask, local
                )
        adversarial_loss = self.global_gan_weight * wasserstein_generator_loss(
            _scores(self.global_critic, fake)
        ) + wasserstein_generator_loss(_scores(self.local_critic, local(fake)))
        return adversarial_loss, critic_loss, gradient_penalty

    def _critic_step(self, real, fake, mask, local):
        """One WGAN-GP update of both critics; returns (critic_loss, gradient_penalty)."""
        with tf.GradientTape() as tape:
            critic_loss = 0.0
            gradient_penalty = 0.0
            for critic, crop in ((self.global_critic, None), (self.local_critic, local)):
                real_x, fake_x, hole = (t if crop is None else crop(t) for t in (real, fake, mask))
                scores = _scores(critic, ops.concatenate([real_x, fake_x], axis=0))
                real_scores, fake_scores = ops.split(scores, 2, axis=0)
                critic_loss += wasserstein_critic_loss(real_scores, fake_scores)
                gradient_penalty += masked_gradient_penalty(
                    critic, real_x, fake_x, hole, seed=self.seed_generator, weight=self.gp_weight
                )
            loss = critic_loss + gradient_penalty
            scaled_loss = self.scale_loss(self.discriminator_optimizer, loss)
        self.minimize(
            self.discriminator_optimizer, tape, scaled_loss, self.discriminator_variables
        )
        return critic_loss, gradient_penalty

    def _two_stage_l1(self, target, coarse, refined, weights):
        """(coarse_l1_weight * L1_w(coarse) + L1_w(refined)): weighted mean absolute errors."""
        total = ops.mean(weights)
        return ops.divide_no_nan(
            self.coarse_l1_weight * masked_l1(target, coarse, weights)
            + masked_l1(target, refined, weights),
            total,
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "width": self.width,
                "local_size": list(self.local_size),
                "gamma": self.gamma,
                "coarse_l1_weight": self.coarse_l1_weight,
                "l1_weight": self.l1_weight,
                "ae_weight": self.ae_weight,
                "gan_weight": self.gan_weight,
                "global_gan_weight": self.global_gan_weight,
                "gp_weight": self.gp_weight,
                "critic_steps": self.critic_steps,
                "learning_rate": self.learning_rate,
                "beta_1": self.beta_1,
                "beta_2": self.beta_2,
                "padding": self.padding,
                "reference_compatibility": self.reference_compatibility,
                "seed": self.seed,
            }
        )
        return config


def _build_critic(input_size, channels, multipliers, kind, head_bias):
    """A WGAN critic: 5x5 stride-2 convolutions with leaky ReLU, flatten, dense to 1.

    The authors' ``build_wgan_{kind}_discriminator`` plus its ``dout_{kind}_fc`` head. A bias
    on the head shifts real and fake scores alike, so it cancels in every WGAN loss and never
    receives a gradient; it exists only with `head_bias` (their checkpoints have one).
    """
    inputs = keras.Input((*input_size, 3), name=f"discriminator_{kind}_input")
    x = inputs
    for index, multiplier in enumerate(multipliers, start=1):
        x = keras.layers.Conv2D(
            channels * multiplier, 5, strides=2, padding="same", name=f"conv{index}"
        )(x)
        x = keras.layers.LeakyReLU(LEAKY_RELU_SLOPE, name=f"conv{index}_leaky_relu")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    outputs = keras.layers.Dense(1, use_bias=head_bias, name=f"dout_{kind}_fc")(x)
    return keras.Model(inputs, outputs, name=f"discriminator_{kind}")


def _scores(critic, images):
    """Critic scores in float32, [B, 1]."""
    return ops.cast(critic(images, training=True), "float32")
