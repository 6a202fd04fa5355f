"""Discriminator builders shared by the paper models."""

import keras

from keras_inpaint.models.spectral_norm import SpectralNorm

SN_PATCH_GAN_MULTIPLIERS = (1, 2, 4, 4, 4, 4)
"""Channel multipliers of the SN-PatchGAN's six convolutions (64-128-256-256-256-256)."""


def build_sn_patch_gan(
    input_channels=4,
    channels=64,
    kernel_size=5,
    strides=2,
    negative_slope=0.2,
    power_iterations=1,
    reference_compatibility=False,
    name="sn_patch_gan",
):
    """SN-PatchGAN discriminator (Yu et al., ICCV 2019, section 3.2 and figure 3).

    Six spectrally normalised ``kernel_size`` x ``kernel_size`` convolutions with stride
    ``strides`` and ``channels`` x (1, 2, 4, 4, 4, 4) filters, each followed by a leaky ReLU
    (slope ``negative_slope``, also after the last one, as in the authors' code), then the
    feature map is flattened: every one of the c x H/64 x W/64 outputs is a score of one
    overlapping patch of the input (the hinge loss is applied to each). Spectral
    normalisation (Miyato et al. 2018) divides each kernel W by its largest singular value,
    estimated with ``power_iterations`` steps of the power method from a persistent vector u:

        v = normalize(u W^T),  u = normalize(v W),  sigma = v W u^T,  W <- W / sigma

    (`keras.layers.SpectralNormalization`: it runs in training mode and writes W / sigma
    back into the kernel; the authors' TF1 code instead used W / sigma at every forward pass
    without storing it, which ``reference_compatibility=True`` reproduces with `SpectralNorm`,
    as converted checkpoints need). The layers are named ``conv1`` .. ``conv6`` as in the
    authors' ``discriminator/sn_patch_gan`` scope. Under the ``mixed_float16`` policy the
    normalisation wrappers run in float32 (their power iteration overflows in float16); the
    convolutions themselves follow the policy.

    Shapes (NHWC): inputs [B, H, W, input_channels] (Yu et al. feed [image, mask] and, in the
    user-guided variant, the guidance channels); output [B, ceil(H/64) * ceil(W/64) * 4c].
    Height and width may be unknown when building.

    Args:
        input_channels: channels of the input (4 = RGB image in [-1, 1] and mask).
        channels: filters of the first convolution (64 in the paper).
        kernel_size: convolution kernel size (5).
        strides: convolution stride (2).
        negative_slope: slope of the leaky ReLU for negative inputs (0.2, TensorFlow's
            ``leaky_relu`` default that the authors used).
        power_iterations: power-method steps per training forward pass (1).
        reference_compatibility: wrap the convolutions in `SpectralNorm` (W / sigma at every
            forward pass, also at inference, as the authors' code) instead of
            `keras.layers.SpectralNormalization`; the weights have the same names and shapes.
        name: model name.

    Returns:
        A functional `keras.Model`.

    Example:
    >>> discriminator = build_sn_patch_gan(input_channels=4, channels=8)
    >>> discriminator(keras.ops.zeros((2, 128, 128, 4))).shape
    TensorShape([2, 128])
    """
    policy = keras.config.dtype_policy()
    normalization_dtype = "float32" if policy.name == "mixed_float16" else None
    inputs = keras.Input((None, None, input_channels), name=f"{name}_input")
    x = inputs
    for index, multiplier in enumerate(SN_PATCH_GAN_MULTIPLIERS, start=1):
        convolution = keras.layers.Conv2D(
            channels * multiplier,
            kernel_size,
            strides=strides,
            padding="same",
            name=f"conv{index}_convolution",
        )
        normalization = SpectralNorm if reference_compatibility else (
            keras.layers.SpectralNormalization
        )
        x = normalization(
            convolution,
            power_iterations=power_iterations,
            dtype=normalization_dtype,
            name=f"conv{index}",
        )(x)
        x = keras.layers.LeakyReLU(negative_slope, name=f"conv{index}_leaky_relu")(x)
    outputs = keras.layers.Flatten(name="flatten")(x)
    return keras.Model(inputs, outputs, name=name)
