import numpy as np
import pytest
import tensorflow as tf

from keras_inpaint.models.resampling import antialiased_resize

SIZES = [
    ((16, 16), (16, 16)),  # identity
    ((64, 48), (16, 16)),  # integer and non-integer downscaling
    ((61, 37), (16, 20)),  # downscaling one axis, upscaling the other
    ((9, 7), (20, 31)),  # upscaling (the kernel is not widened)
    ((1, 9), (4, 1)),  # one-pixel input and output axes
    ((500, 300), (32, 32)),  # wide kernels (about 16 and 9 input pixels)
]


def numpy_resize_matrix(input_size, output_size):
    """The docstring's formula, one output pixel at a time."""
    inverse_scale = np.float32(1.0 / np.float64(np.float32(output_size) / np.float32(input_size)))
    kernel_width = max(inverse_scale, np.float32(1.0))
    matrix = np.zeros((output_size, input_size), np.float64)
    for output in range(output_size):
        centre = (output + 0.5) * inverse_scale
        for source in range(input_size):
            matrix[output, source] = max(0.0, 1.0 - abs((source + 0.5 - centre) / kernel_width))
        matrix[output] /= matrix[output].sum()
    return matrix


@pytest.mark.parametrize("size_in, size_out", SIZES)
def test_matches_numpy_and_tensorflows_antialiased_resize(size_in, size_out):
    rng = np.random.default_rng(0)
    images = rng.random((2, *size_in, 3)).astype("float32")
    resized = antialiased_resize(tf.constant(images), size_out).numpy()
    expected = np.einsum(
        "oh,bhwc,pw->bopc", numpy_resize_matrix(size_in[0], size_out[0]), images,
        numpy_resize_matrix(size_in[1], size_out[1]),
    )
    np.testing.assert_allclose(resized, expected, atol=1e-6)
    tensorflow = tf.image.resize(images, size_out, method="bilinear", antialias=True).numpy()
    np.testing.assert_allclose(resized, tensorflow, atol=1e-6)
    # The pixels a sparse hole reaches are exactly the op's (resize_to_network relies on it).
    holes = (rng.random((1, *size_in, 1)) < 0.02).astype("float32")
    reached = antialiased_resize(tf.constant(holes), size_out).numpy() > 0
    np.testing.assert_array_equal(
        reached, tf.image.resize(holes, size_out, method="bilinear", antialias=True).numpy() > 0
    )


def test_compiles_with_xla_for_sizes_known_only_at_run_time():
    resize = tf.function(
        lambda images: antialiased_resize(images, (16, 16)),
        input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)],
        jit_compile=True,
    )
    images = np.random.default_rng(1).random((1, 45, 30, 3)).astype("float32")
    np.testing.assert_allclose(
        resize(images), tf.image.resize(images, (16, 16), antialias=True), atol=1e-6
    )
