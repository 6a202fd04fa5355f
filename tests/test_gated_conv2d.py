"""Tests of GatedConv2D against a NumPy implementation of Yu et al.'s gated convolution."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from layer_harness import numpy_same_padding
from layer_harness import numpy_windows
from layer_harness import run_layer_test

from keras_inpaint.layers import GatedConv2D

RNG = np.random.default_rng(4321)


def numpy_elu(x):
    return np.where(x > 0, x, np.expm1(np.minimum(x, 0)))


def numpy_gated_conv2d(x, kernel, bias, strides, padding, dilation_rate, activation):
    """[F, G] = conv(x) (features first), y = activation(F) * sigmoid(G).

    "same", "reflect" and "symmetric" pad by TF's "same" amounts with zeros / np.pad's mirror
    modes, then every window is convolved ("valid").
    """
    kernel_size = kernel.shape[:2]
    if padding == "valid":
        pads, mode = ((0, 0), (0, 0)), "constant"
    else:
        pads = numpy_same_padding(x.shape[1:3], kernel_size, strides, dilation_rate)
        mode = "constant" if padding == "same" else padding
    windows = numpy_windows(x, kernel_size, strides, dilation_rate, pads, mode)
    joint = np.einsum("bijhwc,hwcf->bijf", windows, kernel) + bias
    features, gating = np.split(joint, 2, axis=-1)
    return activation(features) / (1.0 + np.exp(-gating))


def test_layer_harness_reflect_strided():
    run_layer_test(
        GatedConv2D,
        init_kwargs={"filters": 4, "kernel_size": 3, "strides": 2, "padding": "reflect"},
        input_data=RNG.random((2, 11, 12, 3), dtype=np.float32),
        expected_output_shape=(2, 6, 6, 4),
        expected_num_trainable_weights=2,
    )


def test_layer_harness_symmetric_dilated_linear_features():
    run_layer_test(
        GatedConv2D,
        init_kwargs={
            "filters": 3,
            "kernel_size": 3,
            "dilation_rate": 2,
            "padding": "symmetric",
            "activation": None,
        },
        input_data=RNG.random((2, 10, 10, 2), dtype=np.float32),
        expected_output_shape=(2, 10, 10, 3),
        expected_num_trainable_weights=2,
    )


@pytest.mark.parametrize("padding", ["same", "valid", "reflect", "symmetric"])
@pytest.mark.parametrize(
    "kernel_size, strides, dilation_rate, size",
    [(3, 1, 1, (9, 10)), (4, 2, 1, (11, 10)), (3, 2, 1, (10, 9)), (3, 1, 2, (10, 11))],
)
def test_matches_numpy_reference(padding, kernel_size, strides, dilation_rate, size):
    x = RNG.standard_normal((2,) + size + (3,)).astype(np.float32)
    layer = GatedConv2D(
        4,
        kernel_size,
        strides=strides,
        padding=padding,
        dilation_rate=dilation_rate,
        bias_initializer=keras.initializers.RandomNormal(seed=5),
    )
    y = layer(x)
    y_ref = numpy_gated_conv2d(
        x,
        layer.kernel.numpy(),
        layer.bias.numpy(),
        layer.strides,
        padding,
        layer.dilation_rate,
        numpy_elu,
    )
    assert y.shape == y_ref.shape
    np.testing.assert_allclose(y, y_ref, rtol=1e-4, atol=1e-5)


def test_linear_features_and_weight_layout():
    x = RNG.standard_normal((1, 6, 6, 2)).astype(np.float32)
    layer = GatedConv2D(5, 3, activation=None)
    layer(x)
    assert [w.name for w in layer.weights] == ["kernel", "bias"]
    assert tuple(layer.kernel.shape) == (3, 3, 2, 10) and tuple(layer.bias.shape) == (10,)
    kernel = RNG.standard_normal((3, 3, 2, 10)).astype(np.float32)
    bias = RNG.standard_normal(10).astype(np.float32)
    layer.set_weights([kernel, bias])
    y_ref = numpy_gated_conv2d(x, kernel, bias, (1, 1), "same", (1, 1), lambda f: f)
    np.testing.assert_allclose(layer(x), y_ref, rtol=1e-4, atol=1e-5)
    # The gating half comes second: a huge gating bias opens every gate, so y = conv_f(x).
    layer.set_weights([kernel, np.concatenate([bias[:5], np.full(5, 50.0, np.float32)])])
    windows = numpy_windows(x, (3, 3), padding=((1, 1), (1, 1)))
    features = np.einsum("bijhwc,hwcf->bijf", windows, kernel[..., :5]) + bias[:5]
    np.testing.assert_allclose(layer(x), features, rtol=1e-4, atol=1e-5)


def test_bad_arguments_and_inputs_raise_value_error():
    with pytest.raises(ValueError, match="padding must be one of .*received padding='mirror'"):
        GatedConv2D(4, 3, padding="mirror")
    with pytest.raises(ValueError, match="filters must be a positive int, received filters=0"):
        GatedConv2D(0, 3)
    assert GatedConv2D(np.int64(4), 3).get_config()["filters"] == 4  # as Conv2D takes it
    assert type(GatedConv2D(np.int64(4), 3).get_config()["filters"]) is int  # JSON-serializable
    with pytest.raises(ValueError, match=r"\(2, 8, 8\)"):
        GatedConv2D(4, 3)(np.zeros((2, 8, 8), np.float32))
    with pytest.raises(ValueError, match=r"height of at least 3, received shape \(1, 2, 8, 3\)"):
        GatedConv2D(4, 5, padding="reflect")(np.zeros((1, 2, 8, 3), np.float32))
    # sides unknown until run time: the same check, in the graph
    layer = GatedConv2D(4, 5, padding="reflect")
    dynamic = tf.function(layer, input_signature=[tf.TensorSpec([1, None, None, 3])])
    assert dynamic(tf.zeros((1, 3, 8, 3))).shape == (1, 3, 8, 4)
    with pytest.raises(tf.errors.InvalidArgumentError, match="reflect padding needs a height"):
        dynamic(tf.zeros((1, 2, 8, 3)))


def test_trainable_false_at_construction_freezes_the_inner_convolution():
    """`GatedConv2D(..., trainable=False)` (and so a frozen layer reloaded from its config) used
    to leave its inner `conv` trainable: a model holding it listed and trained the kernel."""
    x = RNG.random((2, 8, 8, 3), dtype=np.float32)
    for layer in (GatedConv2D(4, 3, trainable=False),
                  GatedConv2D.from_config(GatedConv2D(4, 3, trainable=False).get_config())):
        inputs = keras.Input((8, 8, 3))
        model = keras.Model(inputs, layer(inputs))
        assert model.trainable_weights == [] and len(model.non_trainable_weights) == 2
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
        before = [w.numpy() for w in layer.weights]
        model.fit(x, np.ones((2, 8, 8, 4), np.float32), epochs=1, verbose=0)
        for old, new in zip(before, layer.weights):
            np.testing.assert_array_equal(old, new.numpy())
    layer = GatedConv2D(4, 3, trainable=False)
    layer.trainable = True
    layer(x)
    assert len(layer.trainable_weights) == 2


@pytest.mark.parametrize("padding", ["same", "valid", "reflect", "symmetric"])
@pytest.mark.parametrize("kernel_size, strides, dilation_rate", [(3, 2, 1), (4, 3, 1), (3, 1, 2)])
def test_compute_output_shape_matches_the_outputs(padding, kernel_size, strides, dilation_rate):
    """It was not implemented (NotImplementedError), which Keras' wrappers need."""
    layer = GatedConv2D(5, kernel_size, strides=strides, padding=padding,
                        dilation_rate=dilation_rate)
    x = RNG.random((2, 17, 10, 3), dtype=np.float32)
    assert layer.compute_output_shape(x.shape) == tuple(layer(x).shape)
    assert layer.compute_output_shape((None, None, 10, 3))[:2] == (None, None)


def test_keras_wrappers_take_the_layer():
    x = RNG.random((2, 3, 9, 8, 3), dtype=np.float32)
    wrapped = keras.layers.TimeDistributed(GatedConv2D(4, 3, strides=2, padding="reflect"))
    inputs = keras.Input((None, None, None, 3))
    model = keras.Model(inputs, wrapped(inputs))
    assert model.output_shape == (None, None, None, None, 4)
    per_frame = np.stack([wrapped.layer(x[:, t]) for t in range(3)], axis=1)
    np.testing.assert_allclose(model(x), per_frame, rtol=1e-5, atol=1e-6)
    normalized = keras.layers.SpectralNormalization(GatedConv2D(4, 3))
    assert normalized(keras.Input((8, 8, 3))).shape == (None, 8, 8, 4)


def test_too_small_sides_are_refused_when_building_a_functional_model():
    with pytest.raises(ValueError, match=r"height of at least 3, received shape \(None, 2, 8, 3\)"):
        GatedConv2D(4, 5, padding="reflect")(keras.Input((2, 8, 3)))


def test_unknown_channel_count_raises_value_error_naming_the_shape():
    """The inner Conv2D's build failed on "unsupported operand type(s) for %: 'NoneType'"."""
    with pytest.raises(ValueError, match=r"known number of input channels, received shape "
                                         r"\(None, 8, 8, None\)"):
        GatedConv2D(4, 3)(keras.Input((8, 8, None)))
