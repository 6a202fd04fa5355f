"""Tests of ChannelwiseDense against a NumPy implementation of Pathak et al.'s layer."""

import keras
import numpy as np
import pytest
from layer_harness import run_layer_test

from keras_inpaint.layers import ChannelwiseDense

RNG = np.random.default_rng(2468)


def numpy_channelwise_dense(x, kernel, bias):
    """y[b, q, c] = sum_p x[b, p, c] K[c, p, q] + bias[c, q], one matrix product per channel."""
    batch, height, width, channels = x.shape
    positions = x.reshape(batch, height * width, channels).astype(np.float64)
    y = np.empty_like(positions)
    for c in range(channels):
        y[:, :, c] = positions[:, :, c] @ kernel[c] + bias[c]
    return y.reshape(x.shape)


def test_layer_harness():
    run_layer_test(
        ChannelwiseDense,
        init_kwargs={},
        input_data=RNG.random((2, 3, 5, 4), dtype=np.float32),
        expected_output_shape=(2, 3, 5, 4),
        expected_num_trainable_weights=2,
        dynamic_spatial_shape=False,
    )


def test_matches_numpy_reference_on_a_non_square_map():
    x = RNG.standard_normal((3, 3, 5, 4)).astype(np.float32)
    layer = ChannelwiseDense(bias_initializer=keras.initializers.RandomNormal(seed=7))
    y = layer(x)
    assert tuple(layer.kernel.shape) == (4, 15, 15) and tuple(layer.bias.shape) == (4, 15)
    y_ref = numpy_channelwise_dense(x, layer.kernel.numpy(), layer.bias.numpy())
    np.testing.assert_allclose(y, y_ref, rtol=1e-5, atol=1e-5)


def test_channels_do_not_mix():
    x = np.zeros((1, 2, 2, 3), np.float32)
    x[0, 1, 0, 1] = 1.0  # one pixel of channel 1 only
    layer = ChannelwiseDense(use_bias=False)
    y = np.asarray(layer(x))
    assert np.all(y[..., [0, 2]] == 0.0)
    # Input position p = 1 * 2 + 0 = 2 maps to output q through K[1, 2, q].
    np.testing.assert_allclose(y[0, :, :, 1].reshape(-1), layer.kernel.numpy()[1, 2], rtol=1e-6)


def test_parameter_count_of_the_context_encoder_bottleneck():
    layer = ChannelwiseDense()
    layer.build((None, 4, 4, 512))
    assert layer.count_params() == 512 * 16 * 16 + 512 * 16


def test_initial_kernel_uses_per_channel_fans():
    layer = ChannelwiseDense()
    layer.build((None, 4, 4, 64))
    kernel = layer.kernel.numpy()
    glorot_limit = np.sqrt(6.0 / (16 + 16))
    assert np.abs(kernel).max() <= glorot_limit + 1e-6
    np.testing.assert_allclose(kernel.std(), glorot_limit / np.sqrt(3.0), rtol=0.05)


@pytest.mark.parametrize("shape", [(None, None, 4, 3), (None, 4, None, 3), (None, 4, 4, None)])
def test_dynamic_shapes_raise_value_error_naming_the_shape(shape):
    with pytest.raises(ValueError, match="static height, width and channel count, received shape"):
        ChannelwiseDense()(keras.Input(batch_shape=shape))


def test_wrong_input_after_build_raises_value_error_naming_the_shape():
    layer = ChannelwiseDense()
    layer(np.zeros((1, 4, 4, 3), np.float32))
    with pytest.raises(ValueError, match=r"\(1, 4, 5, 3\)"):
        layer(np.zeros((1, 4, 5, 3), np.float32))
    with pytest.raises(ValueError, match=r"\(4, 4, 3\)"):
        ChannelwiseDense()(np.zeros((4, 4, 3), np.float32))
