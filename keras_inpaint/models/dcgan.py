"""DCGAN building blocks (Radford et al. 2016), shared by the Context Encoder and the latent search.

Radford, Metz and Chintala, "Unsupervised Representation Learning with Deep Convolutional
Generative Adversarial Networks", ICLR 2016 (arXiv:1511.06434), section 3 and figure 1:

- the discriminator is a stack of 4x4 stride-2 convolutions, each followed by batch
  normalisation (not after the first) and a leaky ReLU of slope 0.2, halving the resolution
  down to a 4-pixel map, then one linear unit (the logit);
- the generator projects z to a 4-pixel map and doubles the resolution with 4x4 stride-2
  up-convolutions (``Conv2DTranspose``), each followed by batch normalisation and a ReLU, the
  last by ``tanh`` (images in [-1, 1]);
- weights are drawn from N(0, 0.02) (batch-norm scales from N(1, 0.02), as in the authors'
  Torch code); batch norm uses momentum 0.9 and epsilon 1e-5 (Torch's and the DCGAN
  TensorFlow code's values);
- the (up-)convolutions have no bias: the Torch DCGAN and Context Encoder code reset every
  convolution bias to zero before each update, and batch norm follows all but the first
  and last. (Dropping the first layer's bias also keeps TensorFlow's graph optimiser from
  fusing convolution, bias and leaky ReLU, a rewrite that fails on the latent search's
  gradient inside a ``tf.while_loop``.)

Channel counts follow the published networks: the coarsest (4-pixel) map has ``8 * width``
channels and each finer scale halves that down to ``width`` (the 128-pixel Context Encoder
keeps ``width`` channels at its two finest scales: 64, 64, 128, 256, 512 for width 64). A
generator or decoder feature map at a resolution has the channels of the discriminator's map
at the same resolution. See `scale_channels`.

The networks have a fixed input size (their flattening or channel-wise layers need it), so
`resize_to_network` and `resize_to_image` serve images of other sizes: the image and its hole
are resized to the network size (any output pixel touched by a hole pixel becomes a hole) and
the network's fill is resized back, to be composited into the full-resolution hole.

`dcgan_losses` is the adversarial game both models train with (the discriminator's
non-saturating losses on real and generated images).
"""

import math

import keras
from keras import layers, ops

from keras_inpaint.losses.adversarial import (
    nonsaturating_discriminator_loss,
    nonsaturating_generator_loss,
)
from keras_inpaint.models.resampling import antialiased_resize, spatial_size

SMALLEST_MAP_SIZE = 4
"""Height or width (pixels) of the coarsest feature map of the DCGAN networks."""

KERNEL_SIZE = 4
"""Every (up-)convolution is 4x4 with stride 2 (Radford et al.; Pathak et al.)."""

MAX_WIDTH_MULTIPLIER = 8
"""The coarsest feature map has ``MAX_WIDTH_MULTIPLIER * width`` channels."""

LEAKY_RELU_SLOPE = 0.2
WEIGHT_STDDEV = 0.02
BATCH_NORM_MOMENTUM = 0.9
BATCH_NORM_EPSILON = 1e-5


def num_scales(image_size):
    """Number of stride-2 layers between `image_size` and the 4-pixel map.

    The smaller side must be ``4 * 2**n`` (n >= 1) and the larger side a multiple of ``2**n``,
    e.g. 64 -> 4, 128 -> 5, (64, 128) -> 4 (a 4x8 coarsest map).

    Args:
        image_size: ``(height, width)``.

    Returns:
        n, an int.
    """
    height, width = image_size
    scales = math.log2(min(height, width) / SMALLEST_MAP_SIZE)
    if scales < 1 or scales != int(scales) or max(height, width) % (2 ** int(scales)):
        raise ValueError(
            "DCGAN networks need image sides whose smaller one is 4 * 2**n (n >= 1) and whose "
            f"larger one is a multiple of 2**n, e.g. 32, 64, 128 or (64, 128); received "
            f"image_size {tuple(image_size)}"
        )
    return int(scales)


def scale_channels(scales, width):
    """Channels of the ``scales`` stride-2 feature maps, finest first, coarsest last.

    ``width * 2**clip(k - (scales - 4), 0, 3)`` for the k-th map: the coarsest has
    ``8 * width`` channels and each finer one half of it, but never fewer than `width`.

    Example:
    >>> scale_channels(4, 64)   # DCGAN at 64x64
    [64, 128, 256, 512]
    >>> scale_channels(5, 64)   # Context Encoder at 128x128
    [64, 64, 128, 256, 512]
    """
    top = int(math.log2(MAX_WIDTH_MULTIPLIER))
    return [width * 2 ** min(max(k - (scales - top - 1), 0), top) for k in range(scales)]


def _kernel_initializer():
    return keras.initializers.RandomNormal(mean=0.0, stddev=WEIGHT_STDDEV)


def batch_norm(name):
    """DCGAN batch normalisation (momentum 0.9, epsilon 1e-5, scales from N(1, 0.02))."""
    return layers.BatchNormalization(
        momentum=BATCH_NORM_MOMENTUM,
        epsilon=BATCH_NORM_EPSILON,
        gamma_initializer=keras.initializers.RandomNormal(mean=1.0, stddev=WEIGHT_STDDEV),
        name=name,
    )


def _strided_conv(layer_class, filters, name):
    """A DCGAN (up-)convolution: `layer_class` (``Conv2D`` or ``Conv2DTranspose``) with a 4x4
    kernel, stride 2, "same" padding, no bias (batch norm follows) and N(0, 0.02) weights."""
    return layer_class(
        filters,
        KERNEL_SIZE,
        strides=2,
        padding="same",
        use_bias=False,
        kernel_initializer=_kernel_initializer(),
        name=name,
    )


def dcgan_losses(discriminator, real, fake):
    """The DCGAN losses of `discriminator` D on `real` and `fake` images (Goodfellow et al.
    2014, non-saturating form; Radford et al. 2016):

        generator_loss = -mean log D(fake),
        discriminator_loss = -mean [log D(real) + log(1 - D(fake))],

    with D's logits computed in training mode and cast to float32 (see
    `keras_inpaint.losses.adversarial`).

    Args:
        discriminator: a model mapping ``[B, H, W, 3]`` images in [-1, 1] to logits ``[B, 1]``.
        real: ``[B, H, W, 3]`` real images in [-1, 1].
        fake: ``[B, H, W, 3]`` generated (or completed) images in [-1, 1].

    Returns:
        ``(generator_loss, discriminator_loss)``, float32 scalars.
    """
    real_logits = ops.cast(discriminator(real, training=True), "float32")
    fake_logits = ops.cast(discriminator(fake, training=True), "float32")
    return (
        nonsaturating_generator_loss(fake_logits),
        nonsaturating_discriminator_loss(real_logits, fake_logits),
    )


def downsampling_stack(x, channels, name):
    """DCGAN discriminator trunk: per entry of `channels`, a 4x4 stride-2 convolution, batch
    normalisation (all but the first) and a leaky ReLU (slope 0.2).

    Args:
        x: a symbolic ``[B, H, W, C]`` tensor.
        channels: output channels of each layer, finest first (`scale_channels`).
        name: prefix of the layer names.

    Returns:
        ``[B, H / 2**n, W / 2**n, channels[-1]]`` with ``n = len(channels)``.
    """
    for index, filters in enumerate(channels, start=1):
        x = _strided_conv(layers.Conv2D, filters, f"{name}_conv{index}")(x)
        if index > 1:
            x = batch_norm(f"{name}_bn{index}")(x)
        x = layers.LeakyReLU(negative_slope=LEAKY_RELU_SLOPE, name=f"{name}_lrelu{index}")(x)
    return x


def upsampling_stack(x, channels, output_channels, name):
    """DCGAN generator trunk: per entry of `channels`, a 4x4 stride-2 up-convolution, batch
    normalisation and a ReLU; then a last 4x4 stride-2 up-convolution to `output_channels`
    with ``tanh`` (computed and returned in float32).

    Args:
        x: a symbolic ``[B, h, w, C]`` tensor.
        channels: output channels of the hidden up-convolutions, coarsest first.
        output_channels: channels of the output image (3).
        name: prefix of the layer names.

    Returns:
        ``[B, h * 2**m, w * 2**m, output_channels]`` float32 in [-1, 1], ``m = len(channels) + 1``.
    """
    for index, filters in enumerate(channels, start=1):
        x = _strided_conv(layers.Conv2DTranspose, filters, f"{name}_upconv{index}")(x)
        x = batch_norm(f"{name}_upbn{index}")(x)
        x = layers.ReLU(name=f"{name}_uprelu{index}")(x)
    last = f"{name}_upconv{len(channels) + 1}"
    x = _strided_conv(layers.Conv2DTranspose, output_channels, last)(x)
    return layers.Activation("tanh", dtype="float32", name=f"{name}_tanh")(x)


def build_dcgan_generator(image_size, latent_dim, width, name="generator"):
    """The DCGAN generator: z ``[B, latent_dim]`` -> image ``[B, H, W, 3]`` float32 in [-1, 1].

    A linear projection of z to the coarsest map (``8 * width`` channels at ``H / 2**n x
    W / 2**n``), batch norm and ReLU, then `upsampling_stack` (Radford et al. 2016, figure 1:
    100 -> 4x4x1024 -> ... -> 64x64x3; ``width=64`` here gives the 4x4x512 variant of the
    authors' Torch code and of Yeh et al.'s DCGAN).

    Example:
    >>> generator = build_dcgan_generator((64, 64), latent_dim=100, width=64)
    >>> generator(np.zeros((2, 100), "float32")).shape
    TensorShape([2, 64, 64, 3])
    """
    scales = num_scales(image_size)
    channels = scale_channels(scales, width)
    height, width_ = (side // 2**scales for side in image_size)
    z = keras.Input((latent_dim,), name="z")
    x = layers.Dense(
        height * width_ * channels[-1],
        use_bias=False,
        kernel_initializer=_kernel_initializer(),
        name=f"{name}_project",
    )(z)
    x = layers.Reshape((height, width_, channels[-1]), name=f"{name}_reshape")(x)
    x = batch_norm(f"{name}_project_bn")(x)
    x = layers.ReLU(name=f"{name}_project_relu")(x)
    image = upsampling_stack(x, channels[-2::-1], 3, name)
    return keras.Model(z, image, name=name)


def build_dcgan_discriminator(image_size, width, name="discriminator"):
    """The DCGAN discriminator: image ``[B, H, W, 3]`` in [-1, 1] -> logit ``[B, 1]`` float32.

    `downsampling_stack` down to the 4-pixel map, then one linear unit on the flattened map
    (the same function as the authors' final 4x4 valid convolution). The logit is returned
    (no sigmoid): the losses take logits.

    Example:
    >>> discriminator = build_dcgan_discriminator((64, 64), width=64)
    >>> discriminator(np.zeros((2, 64, 64, 3), "float32")).shape
    TensorShape([2, 1])
    """
    channels = scale_channels(num_scales(image_size), width)
    image = keras.Input((*image_size, 3), name="image")
    x = downsampling_stack(image, channels, name)
    x = layers.Flatten(name=f"{name}_flatten")(x)
    logit = layers.Dense(
        1, kernel_initializer=_kernel_initializer(), dtype="float32", name=f"{name}_logit"
    )(x)
    return keras.Model(image, logit, name=name)


def resize_to_network(image, mask, size):
    """Resize an image and its hole to a fixed network size without leaking hole content.

    Hole pixels are zeroed, then image and mask go through the same antialiased bilinear
    filter (`antialiased_resize`, which XLA can compile); an output pixel is a hole if any
    hole pixel contributed to it (resized mask > 0), so no hole pixel's value reaches a known
    pixel of the result. At the network size itself the resize is the identity.

    Args:
        image: ``[B, H, W, 3]`` float32 in [0, 1].
        mask: ``[B, H, W, 1]`` float32, 1 = hole (binary).
        size: ``(height, width)`` of the network.

    Returns:
        ``(image, mask)`` at `size`; the mask is binary float32.
    """
    known = image * (1.0 - mask)
    small_image = antialiased_resize(known, size)
    small_mask = antialiased_resize(mask, size)
    return small_image, ops.cast(small_mask > 0.0, "float32")


def resize_to_image(fill, image):
    """Resize a network's fill ``[B, h, w, C]`` (bilinear) to the height and width of `image`."""
    resized = antialiased_resize(fill, spatial_size(image))
    resized.set_shape([fill.shape[0], image.shape[1], image.shape[2], fill.shape[3]])
    return resized
