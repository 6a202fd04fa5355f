"""Tests of PartialConv2D against a NumPy implementation of Liu et al.'s formula."""

import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf
from layer_harness import numpy_same_padding
from layer_harness import numpy_windows
from layer_harness import run_layer_test

from keras_inpaint.layers import PartialConv2D

RNG = np.random.default_rng(1234)


def _random_valid_mask(shape, hole=True):
    """Random 0/1 mask (1 = valid) with scattered holes plus, if `hole`, one large hole."""
    mask = (RNG.random(shape) > 0.3).astype(np.float32)
    if hole:
        mask[:, 2:8, 1:7] = 0.0
    return mask


def _layer(filters, kernel_size, **kwargs):
    """A PartialConv2D with a random (nonzero) bias, so that "0, not the bias" is tested."""
    return PartialConv2D(
        filters, kernel_size, bias_initializer=keras.initializers.RandomNormal(seed=3), **kwargs
    )


def numpy_partial_conv2d(x, mask, kernel, bias, strides, padding, dilation_rate, multi_channel):
    """Liu et al. eq. (1)-(2) window by window; mask 1 = valid; "same" pads with invalid zeros."""
    kernel_size = kernel.shape[:2]
    if padding == "same":
        pads = numpy_same_padding(x.shape[1:3], kernel_size, strides, dilation_rate)
    else:
        pads = ((0, 0), (0, 0))
    mask = mask if multi_channel else np.broadcast_to(mask, x.shape)
    x_windows = numpy_windows(x, kernel_size, strides, dilation_rate, pads)
    m_windows = numpy_windows(mask, kernel_size, strides, dilation_rate, pads)
    if multi_channel:
        window_size = kernel_size[0] * kernel_size[1] * x.shape[-1]
        mask_sum = m_windows.sum(axis=(3, 4, 5))
    else:
        window_size = kernel_size[0] * kernel_size[1]
        mask_sum = m_windows[..., 0].sum(axis=(3, 4))
    filters = kernel.shape[-1]
    y = np.zeros(x_windows.shape[:3] + (filters,))
    new_mask = np.zeros(x_windows.shape[:3] + (filters if multi_channel else 1,))
    for b, i, j in np.ndindex(*x_windows.shape[:3]):
        if mask_sum[b, i, j] > 0:
            masked = x_windows[b, i, j] * m_windows[b, i, j]
            y[b, i, j] = (
                np.tensordot(masked, kernel, axes=3) * window_size / mask_sum[b, i, j] + bias
            )
            new_mask[b, i, j] = 1.0
    return y, new_mask


def _run_and_reference(layer, x, mask):
    y, new_mask = layer(x, mask)
    reference = numpy_partial_conv2d(
        x,
        mask,
        layer.kernel.numpy(),
        layer.bias.numpy(),
        layer.strides,
        layer.padding,
        layer.dilation_rate,
        layer.multi_channel,
    )
    return (np.asarray(y), np.asarray(new_mask)), reference


def test_layer_harness_single_channel_mask():
    x = RNG.random((2, 12, 12, 3), dtype=np.float32)
    run_layer_test(
        PartialConv2D,
        init_kwargs={"filters": 4, "kernel_size": 3},
        input_data=(x, _random_valid_mask((2, 12, 12, 1))),
        expected_output_shape=((2, 12, 12, 4), (2, 12, 12, 1)),
        expected_num_trainable_weights=2,
    )


def test_layer_harness_multi_channel_strided():
    x = RNG.random((2, 12, 12, 3), dtype=np.float32)
    run_layer_test(
        PartialConv2D,
        init_kwargs={"filters": 4, "kernel_size": 3, "strides": 2, "multi_channel": True},
        input_data=(x, _random_valid_mask((2, 12, 12, 3))),
        expected_output_shape=((2, 6, 6, 4), (2, 6, 6, 4)),
        expected_num_trainable_weights=2,
    )


@pytest.mark.parametrize(
    "kernel_size, strides, padding, dilation_rate, multi_channel, size",
    [
        (3, 1, "same", 1, False, (10, 10)),
        (3, 2, "same", 1, False, (11, 10)),
        (4, 2, "same", 1, True, (10, 9)),
        (3, 1, "same", 2, True, (10, 10)),
        (5, 2, "valid", 1, False, (11, 12)),
        (3, 1, "valid", 2, True, (10, 11)),
    ],
)
def test_matches_numpy_reference(kernel_size, strides, padding, dilation_rate, multi_channel, size):
    channels = 3
    x = RNG.standard_normal((2,) + size + (channels,)).astype(np.float32)
    mask = _random_valid_mask((2,) + size + (channels if multi_channel else 1,))
    layer = _layer(
        5, kernel_size, strides=strides, padding=padding, dilation_rate=dilation_rate,
        multi_channel=multi_channel,
    )
    (y, new_mask), (y_ref, new_mask_ref) = _run_and_reference(layer, x, mask)
    assert y.shape == y_ref.shape and new_mask.shape == new_mask_ref.shape
    np.testing.assert_allclose(y, y_ref, rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(new_mask, new_mask_ref)
    # The large hole leaves windows with no valid pixel: exactly 0 there, not the bias.
    assert np.any(new_mask_ref == 0)
    assert np.all(y[np.broadcast_to(new_mask == 0, y.shape)] == 0.0)


def test_all_ones_mask_with_valid_padding_equals_conv2d():
    x = RNG.standard_normal((2, 9, 9, 3)).astype(np.float32)
    layer = _layer(4, 3, padding="valid", dilation_rate=2)
    y, new_mask = layer(x, np.ones((2, 9, 9, 1), np.float32))
    conv = keras.layers.Conv2D(4, 3, padding="valid", dilation_rate=2)
    conv.build(x.shape)
    conv.set_weights(layer.get_weights())
    np.testing.assert_allclose(y, conv(x), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(new_mask, np.ones((2, 5, 5, 1)))


def test_all_zero_mask_gives_zero_output_and_mask():
    x = RNG.standard_normal((2, 8, 8, 3)).astype(np.float32)
    for multi_channel, mask_channels in ((False, 1), (True, 3)):
        layer = _layer(4, 3, strides=2, multi_channel=multi_channel)
        y, new_mask = layer(x, np.zeros((2, 8, 8, mask_channels), np.float32))
        assert np.any(layer.bias.numpy() != 0)
        np.testing.assert_array_equal(y, np.zeros((2, 4, 4, 4)))
        np.testing.assert_array_equal(new_mask, np.zeros((2, 4, 4, 4 if multi_channel else 1)))


@pytest.mark.parametrize("multi_channel", [False, True])
def test_no_mask_equals_all_ones_mask(multi_channel):
    x = RNG.standard_normal((2, 9, 8, 3)).astype(np.float32)
    layer = _layer(4, 3, strides=2, multi_channel=multi_channel)
    y, new_mask = layer(x)
    y_ones, new_mask_ones = layer(x, np.ones((2, 9, 8, 3 if multi_channel else 1), np.float32))
    np.testing.assert_array_equal(y, y_ones)
    np.testing.assert_array_equal(new_mask, new_mask_ones)
    # Borders are renormalised: the corner output is not the plain zero-padded convolution.
    conv = keras.layers.Conv2D(4, 3, strides=2, padding="same")
    conv.build(x.shape)
    conv.set_weights(layer.get_weights())
    assert not np.allclose(y[:, -1, -1], conv(x)[:, -1, -1])


def test_bool_and_int_masks_match_float_mask():
    x = RNG.standard_normal((2, 8, 8, 3)).astype(np.float32)
    mask = _random_valid_mask((2, 8, 8, 1))
    layer = _layer(4, 3)
    y, new_mask = layer(x, mask)
    for cast_mask in (mask.astype(bool), mask.astype(np.int32)):
        y_cast, new_mask_cast = layer(x, cast_mask)
        np.testing.assert_array_equal(y_cast, y)
        np.testing.assert_array_equal(new_mask_cast, new_mask)


def test_mixed_float16_with_one_valid_pixel_per_window_is_finite():
    # One valid pixel in each 7x7x16 window: sum(1)/sum(M) = 784; windows with none: ratio 0.
    x = (100.0 * RNG.standard_normal((1, 14, 14, 16))).astype(np.float32)
    mask = np.zeros((1, 14, 14, 16), np.float32)
    mask[0, 3, 3, 0] = 1.0
    layer = _layer(8, 7, strides=7, padding="valid", multi_channel=True, dtype="mixed_float16")
    y, new_mask = layer(x, mask)
    assert y.dtype == "float16" and new_mask.dtype == "float16"
    assert all(w.dtype == "float32" for w in layer.weights)
    y = np.asarray(y, np.float32)
    assert np.all(np.isfinite(y))
    np.testing.assert_array_equal(new_mask[0, :, :, 0], [[1.0, 0.0], [0.0, 0.0]])
    y_ref, _ = numpy_partial_conv2d(
        x, mask, layer.kernel.numpy(), layer.bias.numpy(), (7, 7), "valid", (1, 1), True
    )
    np.testing.assert_allclose(y, y_ref, rtol=1e-2, atol=1e-2 * np.abs(y_ref).max())


def test_weights_are_named_like_conv2d():
    layer = PartialConv2D(6, (3, 5), multi_channel=True)
    layer(np.zeros((1, 8, 8, 2), np.float32))
    assert [w.name for w in layer.weights] == ["kernel", "bias"]
    assert tuple(layer.kernel.shape) == (3, 5, 2, 6) and tuple(layer.bias.shape) == (6,)
    config = layer.get_config()
    assert config["multi_channel"] is True and "data_format" not in config


@pytest.mark.parametrize(
    "x_shape, mask_shape, multi_channel, received",
    [
        ((2, 8, 8), (2, 8, 8, 1), False, "(2, 8, 8)"),
        ((2, 8, 8, 3), (2, 8), False, "(2, 8)"),
        ((2, 8, 8, 3), (2, 8, 6), False, "(2, 8, 6)"),
        ((2, 8, 8, 3), (2, 8, 6, 1), False, "(2, 8, 6, 1)"),
        ((2, 8, 8, 3), (1, 8, 8, 1), False, "(1, 8, 8, 1)"),
        ((2, 8, 8, 3), (2, 8, 8, 3), False, "(2, 8, 8, 3)"),
        ((2, 8, 8, 3), (2, 8, 8, 1), True, "(2, 8, 8, 1)"),
    ],
)
def test_bad_inputs_raise_value_error_naming_the_shape(
    x_shape, mask_shape, multi_channel, received
):
    layer = PartialConv2D(4, 3, multi_channel=multi_channel)
    with pytest.raises(ValueError, match=received.replace("(", r"\(").replace(")", r"\)")):
        layer(np.zeros(x_shape, np.float32), np.zeros(mask_shape, np.float32))


@pytest.mark.parametrize("argument", [{"activation": "relu"}, {"data_format": "channels_first"},
                                      {"groups": 2}])
def test_arguments_the_layer_fixes_are_refused_by_name(argument):
    (name,) = argument
    with pytest.raises(TypeError, match=f"PartialConv2D fixes .*received {name}: apply an"):
        PartialConv2D(4, 3, **argument)


def test_bad_symbolic_mask_raises_when_building_a_model():
    x = keras.Input((None, None, 3))
    with pytest.raises(ValueError, match="1 channel, received shape"):
        PartialConv2D(4, 3)(x, keras.Input((None, None, 2)))


@pytest.mark.parametrize(
    "x_shape, mask_shape",
    [
        ((1, 8, 8, 3), (2, 8, 8, 1)),  # used to return outputs of batch 2
        ((2, 8, 8, 3), (1, 8, 8, 1)),  # used to broadcast, with a new_mask of batch 1
        ((2, 8, 8, 3), (2, 4, 4, 1)),  # used to fail on an "Incompatible shapes" multiply
    ],
)
def test_mask_of_another_size_fails_at_run_time_in_a_dynamic_tf_function(x_shape, mask_shape):
    layer = PartialConv2D(4, 3)
    call = tf.function(
        layer.__call__,
        input_signature=[
            tf.TensorSpec([None, None, None, 3], "float32"),
            tf.TensorSpec([None, None, None, 1], "float32"),
        ],
    )
    x, good_mask = RNG.random((2, 8, 8, 3), dtype=np.float32), _random_valid_mask((2, 8, 8, 1))
    for result, expected in zip(call(x, good_mask), layer(x, good_mask)):
        np.testing.assert_allclose(result, expected, rtol=1e-5, atol=1e-6)
    with pytest.raises(
        tf.errors.InvalidArgumentError, match="mask must have the batch, height and width of x"
    ):
        call(np.zeros(x_shape, np.float32), np.ones(mask_shape, np.float32))


def test_unknown_channel_count_raises_value_error_naming_the_shape():
    """Conv2D's build failed on "unsupported operand type(s) for %: 'NoneType' and 'int'"."""
    with pytest.raises(ValueError, match=r"known number of input channels, received shape "
                                         r"\(None, None, None, None\)"):
        PartialConv2D(4, 3)(keras.Input((None, None, None)))


def test_mask_passed_by_keyword_gives_no_keras_masking_warning():
    """Keras treats a `mask` argument as a Keras mask: `layer(x, mask=valid)` warned that the
    layer "will destroy the mask information", as if the mask were dropped. It is not."""
    x, valid = RNG.random((1, 8, 8, 3), dtype=np.float32), _random_valid_mask((1, 8, 8, 1))
    layer = PartialConv2D(4, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        by_keyword = layer(x, mask=valid)
        symbolic = layer(keras.Input((None, None, 3)), mask=keras.Input((None, None, 1)))
    for keyword, positional in zip(by_keyword, layer(x, valid)):
        np.testing.assert_array_equal(keyword, positional)
    assert all(getattr(output, "_keras_mask", None) is None for output in by_keyword + symbolic)


@pytest.mark.parametrize("multi_channel", [False, True])
def test_keras_mask_from_masking_is_the_valid_mask_for_every_channel(multi_channel):
    """`Masking(0.0)` before the layer marks the pixels whose channels are all 0 as holes: the
    layer takes its `[B, H, W]` Keras mask (True = valid) as a mask given for every channel, in
    eager calls and in a functional model (it had refused it for its rank)."""
    x = RNG.random((2, 10, 10, 3), dtype=np.float32)
    valid = _random_valid_mask((2, 10, 10, 1))
    x = x * valid
    channels = 3 if multi_channel else 1
    layer = _layer(4, 3, multi_channel=multi_channel)
    expected = layer(x, np.repeat(valid, channels, axis=-1))
    eager = layer(keras.layers.Masking(0.0)(x))
    inputs = keras.Input((None, None, 3))
    model = keras.Model(inputs, layer(keras.layers.Masking(0.0)(inputs)))
    for outputs in (eager, model(x)):
        for output, reference in zip(outputs, expected):
            np.testing.assert_allclose(output, reference, rtol=1e-6, atol=1e-6)
    assert float(np.min(expected[1])) == 0.0  # the holes reached the output mask
