"""Antialiased bilinear resizing as two matrix products, so that XLA can compile it.

`tf.image.resize(..., method="bilinear", antialias=True)` runs TensorFlow's
`ScaleAndTranslate` op, which has no XLA kernel: a model that resizes with it cannot be
jit-compiled, and Keras compiles `predict` and `fit` with XLA by default on machines with a
GPU (``jit_compile="auto"``). The resize is linear and separable, so it is the product
y = R_h x R_w^T of the image with one weight matrix per axis; `antialiased_resize` builds
those matrices with the op's own formula (triangle kernel, half-pixel centres, kernel widened
by the downscaling factor, weights renormalised at the borders) and applies them with
`einsum`. Along an axis of n input and m output pixels, with s = m / n (float32) and
k = max(1 / s, 1):

    c_o = (o + 0.5) / s                          centre of output pixel o, in input pixels
    w[o, i] = max(0, 1 - |(i + 0.5 - c_o) / k|)  triangle kernel, k input pixels wide
    R[o, i] = w[o, i] / sum_j w[o, j]

which is what `ScaleAndTranslate` computes with kernel "triangle", antialias on and no
translation, in the same float32 steps: each output reads exactly the op's input pixels, and
the outputs agree to float32 rounding of the sums (both tested). The matrices are dense,
m x n per axis: m * n multiply-adds per row or column instead of about 2k. On a 2-core CPU
(``python -m benchmarks.resize_speed``), a 512x512 crop resized to 128x128 and back took
5.6 ms against the op's 3.8 ms, a whole 2048x1536 photo 87 against 40 ms. On GPUs whose
matrix products run in TF32 (TensorFlow's default on Ampere and newer) the products round
like the models' own convolutions there (not measured here: no GPU).
"""

import functools

import tensorflow as tf


def antialiased_resize(images, size):
    """`tf.image.resize(images, size, "bilinear", antialias=True)`, XLA-compilable.

    Where both sizes of an axis are known when the call is traced (or run eagerly), its
    matrix is computed once per pair of sizes and reused as a constant; otherwise it is
    computed in the graph.

    Args:
        images: ``[B, H, W, C]`` float32; H and W may be unknown until run time.
        size: ``(height, width)`` of the output: ints or int32 scalar tensors.

    Returns:
        ``[B, height, width, C]`` float32.
    """
    height, width = spatial_size(images)
    rows = _axis_matrix(height, size[0])
    columns = _axis_matrix(width, size[1])
    resized = tf.einsum("oh,bhwc->bowc", rows, tf.cast(images, "float32"))
    return tf.einsum("pw,bowc->bopc", columns, resized)


def spatial_size(images):
    """``(height, width)`` of ``[B, H, W, C]`` images: ints where the static shape has them,
    int32 scalar tensors (known at run time) where it does not."""
    shape = tf.shape(images)
    return images.shape[1] or shape[1], images.shape[2] or shape[2]


def _axis_matrix(input_size, output_size):
    if isinstance(input_size, int) and isinstance(output_size, int):
        return _constant_matrix(input_size, output_size)
    return resize_matrix(input_size, output_size)


@functools.lru_cache(maxsize=32)
def _constant_matrix(input_size, output_size):
    with tf.init_scope():  # an eager tensor, captured as a constant by any graph that uses it
        return resize_matrix(input_size, output_size)


def resize_matrix(input_size, output_size):
    """The ``[output_size, input_size]`` weights R of the module docstring, float32."""
    scale = tf.cast(output_size, "float32") / tf.cast(input_size, "float32")
    # The op inverts the float32 scale in double precision and rounds the result to float32.
    inverse_scale = tf.cast(1.0 / tf.cast(scale, "float64"), "float32")
    inverse_kernel_scale = 1.0 / tf.maximum(inverse_scale, 1.0)
    centres = (tf.cast(tf.range(output_size), "float32") + 0.5) * inverse_scale
    positions = tf.cast(tf.range(input_size), "float32") + 0.5
    distances = tf.abs((positions[None, :] - centres[:, None]) * inverse_kernel_scale)
    weights = tf.maximum(1.0 - distances, 0.0)
    return weights / tf.reduce_sum(weights, axis=1, keepdims=True)
