"""PConv U-Net: inpainting irregular holes with partial convolutions (Liu et al., ECCV 2018)."""

import keras
import tensorflow as tf
from keras import ops

from keras_inpaint.layers import PartialConv2D
from keras_inpaint.losses.perceptual import VGG16FeatureExtractor, partial_conv_loss
from keras_inpaint.models.base import (
    InpaintingModel,
    binarize_mask,
    split_inputs,
    to_signed,
    to_unit,
)
from keras_inpaint.models.resize import NearestResize

ENCODER_KERNEL_SIZES = (7, 5, 5, 3)
"""Kernel sizes of the first encoder layers (Liu et al., table in the supplement); every
further layer is 3x3."""

WIDTH_CAP_MULTIPLIER = 8
"""Encoder filters double per level from `width` up to 8 x `width` (64 .. 512 in the paper)."""

DECODER_NEGATIVE_SLOPE = 0.2
"""Leaky ReLU slope of the decoder layers (the paper's LeakyReLU(0.2))."""


@keras.saving.register_keras_serializable(package="keras_inpaint")
class PartialConvInpainter(InpaintingModel):
    """PConv U-Net (Liu et al., ECCV 2018): a U-Net of partial convolutions.

    Paper: G. Liu, F. A. Reda, K. J. Shih, T.-C. Wang, A. Tao, B. Catanzaro, "Image Inpainting
    for Irregular Holes Using Partial Convolutions", ECCV 2018 (arXiv:1804.07723), section 3
    and the architecture table of its supplement.

    Architecture (``depth`` = 8, ``width`` = 64 in the paper; every layer a `PartialConv2D`
    that takes and updates the mask M, 1 = valid = ``1 - hole``):

    - Encoder ``pconv1`` .. ``pconv<depth>``: stride 2, kernels 7, 5, 5, 3, 3, ..., filters
      ``min(width * 2^i, 8 * width)`` (64, 128, 256, 512, 512, 512, 512, 512), batch
      normalisation on all but the first layer, ReLU.
    - Decoder ``pconv<depth+1>`` .. ``pconv<2 depth>``: nearest x2 upsampling of features and
      mask, concatenation with the encoder features and mask of the same resolution (skip
      links; the last layer gets the input image and mask), a 3x3 partial convolution with one
      mask channel per input channel (``multi_channel=True``) back to the encoder's filters at
      that level, batch normalisation and LeakyReLU(0.2); the last layer has 3 filters and
      neither.

    The network sees the image in [-1, 1]; its raw output I_out is mapped back to [0, 1].

    Loss (eq. 7, `keras_inpaint.losses.perceptual.partial_conv_loss`, mask 1 = hole,
    I_comp = mask * I_out + (1 - mask) * I_gt, VGG16 pool1-3 features Psi_p):
        L = valid_weight L_valid + hole_weight L_hole + perceptual_weight L_perceptual
            + style_weight (L_style_out + L_style_comp) + tv_weight L_tv
    with weights 1, 6, 0.05, 120, 0.1: L1 on known and hole pixels, L1 between VGG features
    and between their Gram matrices (of I_out and I_comp), total variation of I_comp on the
    1-pixel dilation of the hole. No discriminator. Adam at 2e-4 with batch normalisation
    (phase 1), then ``fine_tune=True``: 5e-5 with the encoder's batch normalisation frozen
    (phase 2, section 4).

    Where this differs from the paper, and why:
    - `vgg_weights=None` (default) uses a VGG16 with fixed random weights: no ImageNet
      weights can be downloaded on the machines this package is built on. Pass
      ``"imagenet"`` or a weights file for the paper's loss network; a model trained with
      random VGG weights must say so in its model card. With ``perceptual_weight=0`` and
      ``style_weight=0`` no VGG16 is built (the loss is eq. 7's L1 and TV terms only).
    - ``fine_tune=True`` freezes the encoder's batch normalisation layers entirely (Keras
      ``trainable=False``: moving statistics and scale/offset), the usual reading of "freeze
      the batch normalisation parameters in the encoder".
    - Any height and width works: `generate` pads the image with holes (zeros, mask 0 =
      invalid) on all sides to the next multiple of 2^depth and crops the result, so padded
      pixels are never seen as valid.

    Shapes: image [B, H, W, 3] in [0, 1], mask [B, H, W, 1] (1 = hole) -> [B, H, W, 3].

    Args:
        image_size: training resolution (512 in the paper); any size works at inference.
        depth: number of encoder (and decoder) levels (8).
        width: filters of the first encoder layer (64); deeper levels double up to 8x.
        valid_weight, hole_weight, perceptual_weight, style_weight, tv_weight: eq. 7's
            weights (1, 6, 0.05, 120, 0.1).
        vgg_weights: None (fixed random VGG16), ``"imagenet"`` or a VGG16 weights path.
        fine_tune: the second training phase (frozen encoder batch norm,
            `fine_tune_learning_rate`).
        learning_rate: Adam learning rate of the first phase (2e-4).
        fine_tune_learning_rate: Adam learning rate of the fine-tuning phase (5e-5).
        **kwargs: `keras.Model` arguments (``name``, ``dtype``).

    Example:
    >>> model = PartialConvInpainter(image_size=32, depth=4, width=8)
    >>> model.compile()
    >>> batch = {"image": np.random.rand(2, 32, 32, 3).astype("float32"),
    ...          "mask": np.zeros((2, 32, 32, 1), "float32")}
    >>> model(batch).shape
    TensorShape([2, 32, 32, 3])
    """

    loss_terms = ("loss", "valid", "hole", "perceptual", "style", "tv")
    default_masks = "irregular"
    architecture_arguments = ("depth", "width")

    def __init__(
        self,
        image_size=512,
        depth=8,
        width=64,
        valid_weight=1.0,
        hole_weight=6.0,
        perceptual_weight=0.05,
        style_weight=120.0,
        tv_weight=0.1,
        vgg_weights=None,
        fine_tune=False,
        learning_rate=2e-4,
        fine_tune_learning_rate=5e-5,
        **kwargs,
    ):
        super().__init__(image_size=image_size, **kwargs)
        for name, value in (("depth", depth), ("width", width)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, received {value!r}")
        self.depth = depth
        self.width = width
        self.valid_weight = valid_weight
        self.hole_weight = hole_weight
        self.perceptual_weight = perceptual_weight
        self.style_weight = style_weight
        self.tv_weight = tv_weight
        self.vgg_weights = vgg_weights
        self.fine_tune = fine_tune
        self.learning_rate = learning_rate
        self.fine_tune_learning_rate = fine_tune_learning_rate
        with self.network_scope():
            self.generator = self._build_unet()
            # Without the perceptual and style terms the loss network is not built at all (no
            # VGG16 weights in the saved model, no VGG16 pass per step).
            self.extractor = (
                VGG16FeatureExtractor(weights=vgg_weights, name="vgg16_features")
                if perceptual_weight or style_weight
                else None
            )
        self.finish_building()

    # ---- network ------------------------------------------------------------------------
    def encoder_filters(self, level):
        """Filters of encoder layer `level` (0-based): width * 2^level, at most 8 * width."""
        return min(self.width * 2**level, WIDTH_CAP_MULTIPLIER * self.width)

    def _build_unet(self):
        """The U-Net as a functional model: ([image in [-1, 1], valid mask]) -> raw output."""
        image = keras.Input((None, None, 3), name="image")
        valid = keras.Input((None, None, 1), name="valid")
        skips = [(image, valid)]
        x, mask = image, valid
        for level in range(self.depth):
            kernel_size = ENCODER_KERNEL_SIZES[level] if level < len(ENCODER_KERNEL_SIZES) else 3
            name = f"pconv{level + 1}"
            x, mask = PartialConv2D(
                self.encoder_filters(level), kernel_size, strides=2, name=name
            )(x, mask)
            if level > 0:
                x = keras.layers.BatchNormalization(
                    name=f"{name}_bn", trainable=not self.fine_tune
                )(x)
            x = keras.layers.ReLU(name=f"{name}_relu")(x)
            skips.append((x, mask))

        for level in reversed(range(self.depth)):
            name = f"pconv{2 * self.depth - level}"
            skip_features, skip_mask = skips[level]
            upsampled_mask = NearestResize(scale=2, name=f"{name}_mask_upsample")(mask[..., :1])
            mask = ops.concatenate(
                [
                    _per_channel(upsampled_mask, x.shape[-1]),
                    _per_channel(skip_mask, skip_features.shape[-1]),
                ],
                axis=-1,
            )
            x = NearestResize(scale=2, name=f"{name}_upsample")(x)
            x = keras.layers.Concatenate(name=f"{name}_concat")([x, skip_features])
            filters = self.encoder_filters(level - 1) if level > 0 else 3
            x, mask = PartialConv2D(filters, 3, multi_channel=True, name=name)(x, mask)
            if level > 0:
                x = keras.layers.BatchNormalization(name=f"{name}_bn")(x)
                x = keras.layers.LeakyReLU(DECODER_NEGATIVE_SLOPE, name=f"{name}_leaky_relu")(x)
        outputs = keras.layers.Activation("linear", dtype="float32", name="output")(x)
        return keras.Model([image, valid], outputs, name="pconv_unet")

    # ---- inference ----------------------------------------------------------------------
    def predict_raw(self, image, mask, training=False):
        """I_out: the network's output mapped to [0, 1] scale but not clipped, float32."""
        multiple = 2**self.depth
        shape = tf.shape(image)
        height, width = shape[1], shape[2]
        pad_height, pad_width = (-height) % multiple, (-width) % multiple
        top, left = pad_height // 2, pad_width // 2
        paddings = [[0, 0], [top, pad_height - top], [left, pad_width - left], [0, 0]]
        valid = tf.pad(1.0 - mask, paddings)
        output = self.generator([tf.pad(to_signed(image), paddings), valid], training=training)
        output = output[:, top : top + height, left : left + width]
        return to_unit(ops.cast(output, "float32"))

    def generate(self, image, mask, training=False):
        """The fill in [0, 1] (I_out clipped), float32 [B, H, W, 3]."""
        return ops.clip(self.predict_raw(image, mask, training=training), 0.0, 1.0)

    # ---- training -----------------------------------------------------------------------
    def default_optimizers(self):
        """Adam at 2e-4, or 5e-5 when fine-tuning (Liu et al. 2018, section 4)."""
        rate = self.fine_tune_learning_rate if self.fine_tune else self.learning_rate
        return {"generator": keras.optimizers.Adam(learning_rate=rate), "discriminator": None}

    def train_step(self, data):
        image, mask = split_inputs(data)
        mask = binarize_mask(mask)
        with tf.GradientTape() as tape:
            output = self.predict_raw(image, mask, training=True)
            loss, terms = partial_conv_loss(
                image,
                output,
                mask,
                self.extractor,
                valid_weight=self.valid_weight,
                hole_weight=self.hole_weight,
                perceptual_weight=self.perceptual_weight,
                style_weight=self.style_weight,
                tv_weight=self.tv_weight,
            )
            scaled_loss = self.scale_loss(self.generator_optimizer, loss)
        self.minimize(self.generator_optimizer, tape, scaled_loss, self.generator_variables)
        return self.record({"loss": loss, **terms})

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "depth": self.depth,
                "width": self.width,
                "valid_weight": self.valid_weight,
                "hole_weight": self.hole_weight,
                "perceptual_weight": self.perceptual_weight,
                "style_weight": self.style_weight,
                "tv_weight": self.tv_weight,
                "vgg_weights": self.vgg_weights,
                "fine_tune": self.fine_tune,
                "learning_rate": self.learning_rate,
                "fine_tune_learning_rate": self.fine_tune_learning_rate,
            }
        )
        return config


def _per_channel(mask, channels):
    """A one-channel mask repeated for `channels` feature channels."""
    return ops.repeat(mask, channels, axis=-1)
