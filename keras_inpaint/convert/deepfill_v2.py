"""DeepFill v2 (Yu et al., ICCV 2019): the authors' release v2.0.0 -> `GatedConvInpainter`.

Variable mapping (checkpoint name -> our model):

- ``inpaint_net/<layer>/{kernel,bias}`` -> generator layer ``<layer>`` (a `GatedConv2D`, whose
  joint [k, k, C_in, 2n] kernel is the authors' single convolution with features first and
  gates second; ``conv17`` / ``allconv17`` are plain `Conv2D`);
- ``inpaint_net/<s>NN_upsample/<s>NN_upsample_conv/*`` -> layer ``<s>NN_upsample_conv``;
- ``discriminator/sn_patch_gan/convK/{kernel,bias}`` -> discriminator layer ``convK``'s
  convolution, ``.../convK/kernel_sn/u`` -> its ``vector_u`` (see `preceding_vector_u`).

The model is ``GatedConvInpainter(image_size=256, width=48, reference_compatibility=True)``:
the authors' v2.0.0 graph, which their released Places2 and CelebA-HQ models load into, has
``cnum`` 48 (SN-PatchGAN 64), they trained at 256x256 (their README), and the graph resizes
with TF1's ``align_corners=True`` nearest neighbour and normalises the SN-PatchGAN kernels at
every forward pass.
"""

import numpy as np

from keras_inpaint.convert.common import generator_variables, layer_variables

MODEL_NAME = "gated_conv"
TITLE = "DeepFill v2 (GatedConvInpainter, width 48, SN-PatchGAN)"

IMAGE_SIZE = 256
WIDTH = 48
"""The authors' ``cnum``; their README: every released model was trained on 256x256 images."""

DISCRIMINATOR_SCOPE = "discriminator/sn_patch_gan"
SN_VECTOR = "kernel_sn/u"
"""The authors' name of a kernel's power-iteration vector, below its convolution's scope."""


def build_model():
    """``GatedConvInpainter`` configured like the authors' release."""
    from keras_inpaint.models.gated_conv import GatedConvInpainter

    return GatedConvInpainter(image_size=IMAGE_SIZE, width=WIDTH, reference_compatibility=True)


def checkpoint_variables(model):
    """{checkpoint name: variable} of the generator and of the discriminator."""
    discriminator = layer_variables(
        model.discriminator,
        lambda layer_name: f"{DISCRIMINATOR_SCOPE}/{layer_name}",
        weight_names={"vector_u": SN_VECTOR},
    )
    return generator_variables(model.generator), discriminator


def prepare_values(values):
    """Replace each SN-PatchGAN ``kernel_sn/u`` by `preceding_vector_u` of it and its kernel."""
    values = dict(values)
    for name in values:
        if name.startswith(DISCRIMINATOR_SCOPE) and name.endswith(f"/{SN_VECTOR}"):
            kernel = values[name[: -len(SN_VECTOR)] + "kernel"]
            values[name] = preceding_vector_u(kernel, values[name])
    return values


def preceding_vector_u(kernel, vector_u):
    """The vector from which one power iteration of the authors' SN yields `vector_u`.

    The authors' spectral normalisation (see `keras_inpaint.models.spectral_norm.SpectralNorm`)
    computes, at every forward pass, from the stored u_0 and ``W = reshape(kernel, [-1, n])``

        v = l2n(u_0 W^T),  u_1 = l2n(v W),  sigma = v W u_1^T,  output with W / sigma

    and then stores ``u <- u_1``: a checkpoint holds u_1, the vector written by the last pass
    (the reference checkpoint's golden discriminator output is that pass's, which one more
    iteration from u_1 misses by 0.09). Since ``v W`` is a positive multiple of u_1 and v lies
    in the column space of W, v is proportional to ``u_1 (W^T W)^-1 W^T``: that pass's sigma
    is determined by W and u_1 alone, and one iteration from ``u_0' = l2n(u_1 (W^T W)^-1)``
    gives back that v, u_1 and sigma (W needs full column rank; the SN-PatchGAN kernels have
    25 C_in >= n rows). The converted model stores u_0', so its first forward pass applies the
    authors' last W / sigma, and its first training pass stores their u_1.

    Args:
        kernel: [k, k, C_in, n] convolution kernel.
        vector_u: [1, n] stored power-iteration vector u_1.

    Returns:
        u_0' as float32 [1, n] of unit norm.

    Raises:
        ValueError: W^T W is singular (W without full column rank).
    """
    matrix = np.reshape(np.asarray(kernel, np.float64), (-1, np.shape(kernel)[-1]))
    try:
        preceding = np.linalg.solve(matrix.T @ matrix, np.asarray(vector_u, np.float64).T).T
    except np.linalg.LinAlgError as error:
        raise ValueError(
            f"the kernel {np.shape(kernel)} has linearly dependent columns, so the "
            "spectral normalisation of the pass that wrote its u cannot be recovered"
        ) from error
    return (preceding / np.linalg.norm(preceding)).astype(np.float32)
