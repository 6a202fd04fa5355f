"""Context Encoder (Pathak et al., CVPR 2016)."""

import keras
import numpy as np
import tensorflow as tf
from keras import layers, ops

from keras_inpaint.layers import ChannelwiseDense
from keras_inpaint.losses import masked_l2
from keras_inpaint.models.base import (
    InpaintingModel,
    binarize_mask,
    composite,
    split_inputs,
    to_signed,
    to_unit,
)
from keras_inpaint.models.dcgan import (
    batch_norm,
    build_dcgan_discriminator,
    dcgan_losses,
    downsampling_stack,
    num_scales,
    resize_to_image,
    resize_to_network,
    scale_channels,
    upsampling_stack,
)

VARIANTS = ("random_region", "center")

AUTHORS_MEAN_PIXEL = (117.0 / 255.0, 104.0 / 255.0, 123.0 / 255.0)
"""The RGB colour the authors' code writes into the dropped region (train.lua)."""


@keras.saving.register_keras_serializable(package="keras_inpaint")
class ContextEncoder(InpaintingModel):
    """Context Encoder: an encoder-decoder trained with L2 and adversarial losses.

    D. Pathak, P. Krahenbuhl, J. Donahue, T. Darrell, A. A. Efros, "Context Encoders: Feature
    Learning by Inpainting", CVPR 2016 (arXiv:1604.07379); the 128x128 inpainting networks of
    the authors' Torch code (github.com/pathak22/context-encoder, ``train.lua`` and
    ``train_random.lua``).

    **Input.** The context ``x * (1 - M)`` with the dropped region ``M`` filled with a constant
    mean colour (`mean_pixel`), scaled to [-1, 1]; no mask channel.

    **Generator F** (section 3.1, figure 2; channels for ``width=64`` at 128x128):
    - encoder, DCGAN-discriminator style: 4x4 stride-2 convolutions
      128 -> 64 -> 32 -> 16 -> 8 -> 4 with 64, 64, 128, 256, 512 channels, batch norm (not
      after the first) and leaky ReLU 0.2;
    - bottleneck: a channel-wise fully connected layer on the 4x4x512 map (each channel its
      own 16x16 full connection, 512 * 16 * 16 + 512 * 16 parameters, `ChannelwiseDense`),
      then a stride-1 1x1 convolution mixing the channels, batch norm and ReLU;
    - decoder: 4x4 stride-2 up-convolutions with batch norm and ReLU mirroring the encoder,
      ``tanh`` output: 4 -> 8 -> 16 -> 32 -> 64 (the centre variant: 64x64x3 prediction of the
      central region) or on to 128 (the random-region variant: a full 128x128x3 image).

    **Variants.**
    - ``"center"``: the predicted region P is the central half of the image (64x64 at 128,
      rows and columns [32, 96)). The region dropped from the input (the hole) is P shrunk by
      `overlap` pixels on each side (56x56, [36, 92)), so the outer 4-pixel band of P
      overlaps the known context; the prediction is pasted into the hole only. Training
      always drops this fixed region (the batch's masks are ignored, as the network can only
      predict the centre). At inference the given mask is the hole; hole pixels outside P
      get the mean colour.
    - ``"random_region"``: the hole is the batch's mask (`default_masks` ``"blob"``: random
      object-like regions covering up to a quarter of the image, section 3.3); the output is
      a full image, of which the hole is used.

    **Losses** (section 3.2; ``^`` = composited output, hole from F and the rest from x):
    - reconstruction (eq. 1), a weighted mean squared error
      ``L_rec = mean_{P, c}(w * (F(x) - x)^2)``: the centre variant averages over the
      predicted region P with ``w = overlap_weight`` (10) on its overlap band and 1 in the
      hole (the authors' ``wtl2Matrix``); the random-region variant averages over the whole
      image with ``w = M`` (the hole only);
    - adversarial (eq. 2): a plain (unconditional) DCGAN discriminator D sees the whole
      composited image, never the mask or the context alone;
      ``L_adv = -log D(x^)`` for F (non-saturating) and ``-log D(x) - log(1 - D(x^))`` for D;
    - ``L_F = reconstruction_weight * L_rec + adversarial_weight * L_adv`` (eq. 3: 0.999 and
      0.001). D minimises its own loss unweighted (Adam is invariant to a constant factor).

    **Optimisation.** Adam with beta_1 0.5; the generator's learning rate is 10x the
    discriminator's (section 3.3): 2e-3 and 2e-4, the values of the authors' code (lr 0.0002,
    generator ``lr * 10`` when ``0 < wtl2 < 1``). Each step updates D on a real and a
    completed batch, then F, both from the same forward pass (as the authors' code does).

    **Where this differs from the authors' released code, and why.**
    - Bottleneck: the released 128x128 code has a 4x4 convolution to a ``nBottleneck``-d
      vector (4000 in the paper's inpainting experiments) instead of the channel-wise layer;
      the channel-wise layer is what the paper describes (section 3.1) and keeps the 4x4
      layout at a fraction of a dense layer's parameters.
    - Discriminator input: the released centre model's D sees only the 64x64 predicted
      patch and the random-region model's D the raw 128x128 output; here D sees the whole
      composited image (the known pixels are what the model outputs, so D judges exactly
      the image a user gets, seams included).
    - Random-region reconstruction: the released code puts the L2 on the whole output with
      10x weight on the known pixels; here, as in the paper (eq. 1), only on the hole.
    - `mean_pixel` defaults to the authors' colour (117, 104, 123)/255; set it to your
      training set's mean colour.

    **Other image sizes.** The networks are fixed-size (`image_size`, 128 by default). At
    inference an image of another size and its hole are resized to `image_size` (a resized
    pixel touched by the hole is a hole), the fill is resized back and composited into the
    hole at full resolution; known pixels are always copied from the input.

    Shapes: inputs ``{"image": [B, H, W, 3] in [0, 1], "mask": [B, H, W, 1] 1 = hole}``, any
    H, W at inference, ``image_size`` in training; output ``[B, H, W, 3]`` float32.

    Args:
        image_size: network size (int or (height, width)); the smaller side ``4 * 2**n``.
            The paper uses 128.
        variant: ``"random_region"`` or ``"center"`` (see above).
        width: channels of the finest encoder layer (``nef = ngf = ndf = 64`` in the paper).
        overlap: width in pixels of the centre variant's overlap band (``overlapPred = 4``).
        overlap_weight: L2 weight of the overlap band relative to the hole (10).
        reconstruction_weight: lambda_rec of eq. 3 (0.999).
        adversarial_weight: lambda_adv of eq. 3 (0.001).
        generator_learning_rate: Adam learning rate of F (10x the discriminator's).
        discriminator_learning_rate: Adam learning rate of D (2e-4).
        beta_1: Adam's beta_1 for both (0.5, DCGAN).
        mean_pixel: RGB colour in [0, 1] that fills the hole in the network input.
        **kwargs: `InpaintingModel` arguments (``name``, ``dtype``).

    Example:
    >>> model = ContextEncoder(image_size=64, width=8)
    >>> batch = {"image": np.random.rand(2, 64, 64, 3).astype("float32"),
    ...          "mask": np.zeros((2, 64, 64, 1), "float32")}
    >>> model(batch).shape
    TensorShape([2, 64, 64, 3])
    """

    loss_terms = (
        "generator_loss",
        "reconstruction_loss",
        "adversarial_loss",
        "discriminator_loss",
    )
    default_masks = "blob"
    architecture_arguments = ("variant", "width")

    def __init__(
        self,
        image_size=128,
        variant="random_region",
        width=64,
        overlap=4,
        overlap_weight=10.0,
        reconstruction_weight=0.999,
        adversarial_weight=0.001,
        generator_learning_rate=2e-3,
        discriminator_learning_rate=2e-4,
        beta_1=0.5,
        mean_pixel=AUTHORS_MEAN_PIXEL,
        **kwargs,
    ):
        super().__init__(image_size=image_size, **kwargs)
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}, received {variant!r}")
        if len(mean_pixel) != 3:
            raise ValueError(f"mean_pixel must be an RGB triple, received {mean_pixel!r}")
        self.variant = variant
        self.width = width
        self.overlap = overlap
        self.overlap_weight = overlap_weight
        self.reconstruction_weight = reconstruction_weight
        self.adversarial_weight = adversarial_weight
        self.generator_learning_rate = generator_learning_rate
        self.discriminator_learning_rate = discriminator_learning_rate
        self.beta_1 = beta_1
        self.mean_pixel = tuple(float(value) for value in mean_pixel)
        scales = num_scales(self.image_size)
        region = self.predicted_region()
        if variant == "center" and not 0 <= 2 * overlap < min(region[2:]):
            raise ValueError(
                f"overlap must be in [0, {(min(region[2:]) - 1) // 2}] for a "
                f"{region[2]}x{region[3]} centre region, received {overlap!r}"
            )
        with self.network_scope():
            self.generator = self._build_generator(scales)
            self.discriminator = build_dcgan_discriminator(
                self.image_size, width, name="discriminator"
            )
        self.finish_building()

    def _build_generator(self, scales):
        channels = scale_channels(scales, self.width)
        context = keras.Input((*self.image_size, 3), name="context")
        features = downsampling_stack(context, channels, "encoder")
        features = ChannelwiseDense(name="bottleneck_channelwise")(features)
        features = layers.Conv2D(
            channels[-1], 1, use_bias=False, name="bottleneck_mix_channels"
        )(features)
        features = batch_norm("bottleneck_bn")(features)
        features = layers.ReLU(name="bottleneck_relu")(features)
        # The decoder's hidden maps mirror the encoder's; the centre variant stops one scale
        # early (its output is the central half of the image).
        hidden = channels[-2:0:-1] if self.variant == "center" else channels[-2::-1]
        prediction = upsampling_stack(features, hidden, 3, "decoder")
        return keras.Model(context, prediction, name="generator")

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "variant": self.variant,
                "width": self.width,
                "overlap": self.overlap,
                "overlap_weight": self.overlap_weight,
                "reconstruction_weight": self.reconstruction_weight,
                "adversarial_weight": self.adversarial_weight,
                "generator_learning_rate": self.generator_learning_rate,
                "discriminator_learning_rate": self.discriminator_learning_rate,
                "beta_1": self.beta_1,
                "mean_pixel": list(self.mean_pixel),
            }
        )
        return config

    def default_optimizers(self):
        return {
            "generator": keras.optimizers.Adam(self.generator_learning_rate, beta_1=self.beta_1),
            "discriminator": keras.optimizers.Adam(
                self.discriminator_learning_rate, beta_1=self.beta_1
            ),
        }

    # ---- geometry -----------------------------------------------------------------------
    def predicted_region(self):
        """``(top, left, height, width)`` of the region the generator outputs (network size)."""
        height, width = self.image_size
        if self.variant == "center":
            return height // 4, width // 4, height // 2, width // 2
        return 0, 0, height, width

    def center_hole(self):
        """The centre variant's hole ``[1, H, W, 1]`` (float32 NumPy): the predicted region
        minus its `overlap` band."""
        top, left, height, width = self.predicted_region()
        hole = np.zeros((1, *self.image_size, 1), "float32")
        hole[
            :,
            top + self.overlap : top + height - self.overlap,
            left + self.overlap : left + width - self.overlap,
        ] = 1.0
        return hole

    def _crop_region(self, images):
        top, left, height, width = self.predicted_region()
        return images[:, top : top + height, left : left + width, :]

    # ---- networks -------------------------------------------------------------------------
    def _mean_colour(self):
        return ops.reshape(ops.convert_to_tensor(self.mean_pixel, "float32"), (1, 1, 1, 3))

    def _context(self, image, hole):
        """The network input in [0, 1]: the image with its hole filled with the mean colour."""
        return image * (1.0 - hole) + self._mean_colour() * hole

    def _fill(self, image, hole, training):
        """Network-size image and hole -> the generator's fill on a mean-colour canvas, [0, 1]."""
        context = to_signed(self._context(image, hole))
        prediction = to_unit(ops.cast(self.generator(context, training=training), "float32"))
        if self.variant == "random_region":
            return prediction
        top, left, height, width = self.predicted_region()
        full_height, full_width = self.image_size
        padding = [[0, 0], [top, full_height - top - height], [left, full_width - left - width]]
        pasted = tf.pad(prediction, [*padding, [0, 0]])
        outside = tf.pad(tf.zeros_like(prediction[..., :1]), [*padding, [0, 0]], constant_values=1)
        return pasted + self._mean_colour() * outside

    def generate(self, image, mask, training=False):
        """The fill ``[B, H, W, 3]`` in [0, 1] for images of any size (see the class docstring)."""
        small_image, small_mask = resize_to_network(image, mask, self.image_size)
        return resize_to_image(self._fill(small_image, small_mask, training), image)

    def _training_inputs(self, image, mask):
        """``(image, hole)`` of a training batch: the image with its `image_size` made static
        (sizes unknown until run time, as from a `tf.py_function`, are checked then) and the
        hole the variant trains on."""
        size = tuple(image.shape[1:3])
        if None not in size and size != self.image_size:
            raise ValueError(
                f"ContextEncoder trains on images of its image_size {self.image_size}, "
                f"received image shape {tuple(image.shape)}"
            )
        image = tf.ensure_shape(image, [None, *self.image_size, 3])
        if self.variant == "center":
            hole_shape = (ops.shape(image)[0], *self.image_size, 1)
            return image, ops.broadcast_to(self.center_hole(), hole_shape)
        return image, mask

    def _reconstruction_loss(self, image, fill, hole):
        """Eq. 1 with the overlap weighting (see the class docstring)."""
        if self.variant == "random_region":
            return masked_l2(image, fill, hole)
        region_hole = self._crop_region(hole)
        weights = region_hole + self.overlap_weight * (1.0 - region_hole)
        return masked_l2(self._crop_region(image), self._crop_region(fill), weights)

    # ---- training -------------------------------------------------------------------------
    def train_step(self, data):
        """One update of D then F on the same forward pass (Pathak et al. 2016, section 3)."""
        image, mask = split_inputs(data)
        image, hole = self._training_inputs(image, binarize_mask(mask))
        with tf.GradientTape() as generator_tape, tf.GradientTape() as discriminator_tape:
            fill = self._fill(image, hole, training=True)
            completed = composite(image, hole, fill)
            adversarial, discriminator_loss = dcgan_losses(
                self.discriminator, to_signed(image), to_signed(completed)
            )
            reconstruction = self._reconstruction_loss(image, fill, hole)
            generator_loss = (
                self.reconstruction_weight * reconstruction
                + self.adversarial_weight * adversarial
            )
            scaled_generator, scaled_discriminator = self.scale_losses(
                generator_loss, discriminator_loss
            )
        self.minimize_discriminator_then_generator(
            discriminator_tape, scaled_discriminator, generator_tape, scaled_generator
        )
        return self.record(
            {
                "generator_loss": generator_loss,
                "reconstruction_loss": reconstruction,
                "adversarial_loss": adversarial,
                "discriminator_loss": discriminator_loss,
            }
        )

    def summary_images(self, inputs):
        """What the network sees and predicts in training: the mean-filled context and the raw
        fill (``[B, h, w, 3]`` in [0, 1] at the network size)."""
        image, mask = split_inputs(inputs)
        # The centre variant trains on its own fixed hole, whatever the batch's masks.
        mask = binarize_mask(mask) if self.variant == "random_region" else ops.zeros_like(mask)
        small_image, small_mask = resize_to_network(image, mask, self.image_size)
        small_image, hole = self._training_inputs(small_image, small_mask)
        return {
            "network_input": self._context(small_image, hole),
            "network_fill": self._fill(small_image, hole, training=False),
        }
