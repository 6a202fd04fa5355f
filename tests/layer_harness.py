"""Shared test harness for keras_inpaint layers (in the style of keras-hub's `run_layer_test`).

`tests/` is not a package: pytest puts it on `sys.path`, so a test file imports the harness as

    from layer_harness import run_layer_test

    def test_partial_conv2d_basics():
        run_layer_test(
            PartialConv2D,
            init_kwargs={"filters": 4, "kernel_size": 3},
            input_data=(image, mask),          # one array, or a tuple/list of arrays
            expected_output_shape=((2, 8, 8, 4), (2, 8, 8, 1)),
        )

API (kept stable; other layer tests rely on it):

    run_layer_test(
        layer_cls, init_kwargs, input_data,
        expected_output_shape=None,
        call_kwargs=None,
        expected_num_trainable_weights=None,
        expected_num_non_trainable_weights=None,
        dynamic_spatial_shape=True,
        run_training_check=True,
        run_mixed_precision_check=True,
        run_export_check=True,
        tolerance=1e-5,
        mixed_precision_tolerance=0.05,
    ) -> the built float32 layer instance

Arguments:
    layer_cls: the layer class (must be registered under the package "keras_inpaint").
    init_kwargs: dict passed to `layer_cls(**init_kwargs)`.
    input_data: a NumPy array, or a tuple/list of NumPy arrays passed positionally
        (`layer(*input_data, **call_kwargs)`), e.g. `(x, mask)`. Arrays may be float, int or bool.
    expected_output_shape: the output shape, or a tuple/list of shapes when the layer returns a
        tuple/list of outputs (e.g. `(y, new_mask)`). Checked exactly on the eager outputs and,
        where the symbolic shape is static, on the symbolic outputs.
    call_kwargs: dict of extra (non-tensor) keyword arguments for every call.
    expected_num_trainable_weights / expected_num_non_trainable_weights: checked when given.
    dynamic_spatial_shape: if True the symbolic inputs have batch AND every axis between batch
        and channels set to None (any height and width). Set False for layers that need a static
        H and W (e.g. ChannelwiseDense): then only the batch is None.
    run_training_check: run the jit-compiled fit step and the per-weight gradient check.
    run_mixed_precision_check: run the mixed_float16 / mixed_bfloat16 checks.
    run_export_check: run the ExportArchive -> tf.saved_model.load check.
    tolerance: atol and rtol for float32 comparisons (round trips, export).
    mixed_precision_tolerance: a mixed-precision output must satisfy
        max|y_mixed - y_float32| <= mixed_precision_tolerance * (1 + max|y_float32|);
        None skips that comparison (dtypes and finiteness are still checked).

NumPy reference helpers for the numerical tests (independent of keras_inpaint's code):

    numpy_same_padding(spatial_shape, kernel_size, strides=(1, 1), dilation_rate=(1, 1))
        -> ((top, bottom), (left, right)), the zero padding of TensorFlow's "same" convolution
    numpy_windows(x, kernel_size, strides=(1, 1), dilation_rate=(1, 1),
                  padding=((0, 0), (0, 0)), mode="constant") -> [B, H', W', kh, kw, C]
        every (dilated, strided) window of the padded NHWC array, float64; a convolution is then
        `np.einsum("bijhwc,hwcf->bijf", windows, kernel)`.

Checks of run_layer_test, in order:
    1. Registration: `keras.saving.get_registered_name(layer_cls) == "keras_inpaint>Name"`.
    2. Eager call: output structure, exact shapes, finite float outputs, float32 variables,
       weight counts.
    3. Config round trip: the config is JSON-serialisable, `from_config(get_config())` gives an
       equal config; the revived layer with copied weights gives equal outputs; serialize /
       deserialize through the registry gives an instance of `layer_cls`.
    4. Symbolic call on `keras.Input`s with batch None (and H, W None if dynamic_spatial_shape):
       same output structure, ranks, static dims, dtypes.
    5. Functional model holding the layer: same outputs as the eager call; `.keras` save and
       `keras.saving.load_model(..., safe_mode=True)`: the reloaded model gives equal outputs.
    6. Gradients (if run_training_check): for every trainable weight of the layer the gradient of
       a random projection of the float outputs is not None, finite and not all zero.
    7. A jit-compiled (`jit_compile=True`) fit step (one SGD step, MSE to zero on each float
       output) of a fresh functional model holding a fresh layer: finite loss, weights change.
    8. Mixed precision (if run_mixed_precision_check), for "mixed_float16" and "mixed_bfloat16"
       set as the GLOBAL policy (restored afterwards in try/finally): the new layer takes the
       policy, its variables are float32, float outputs are in the compute dtype, finite, and
       (with the float32 weights copied in) close to the float32 outputs.
    9. Export (if run_export_check): the functional model tracked by `keras.export.ExportArchive`,
       endpoint "serve" taking the inputs positionally, written as a SavedModel and reloaded with
       `tf.saved_model.load`: outputs equal the model's outputs.
"""

import json
import tempfile
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

MIXED_PRECISION_POLICIES = ("mixed_float16", "mixed_bfloat16")
REGISTERED_PACKAGE = "keras_inpaint"


def _as_input_list(input_data):
    """Returns (list of NumPy arrays, whether the layer takes several positional inputs)."""
    if isinstance(input_data, (tuple, list)):
        return [np.asarray(x) for x in input_data], True
    return [np.asarray(input_data)], False


def _to_numpy_list(outputs):
    return [keras.ops.convert_to_numpy(o) for o in keras.tree.flatten(outputs)]


def _is_float(dtype):
    return np.issubdtype(np.dtype(keras.backend.standardize_dtype(dtype)), np.floating)


def _expected_shapes(expected_output_shape, num_outputs):
    """Normalises one shape or a sequence of shapes to a list of tuples."""
    if expected_output_shape is None:
        return None
    is_single_shape = all(
        isinstance(d, (int, type(None))) for d in expected_output_shape
    )
    shapes = [expected_output_shape] if is_single_shape else list(expected_output_shape)
    assert len(shapes) == num_outputs, (
        f"expected {len(shapes)} outputs of shapes {shapes}, the layer returned {num_outputs}"
    )
    return [tuple(s) for s in shapes]


def _assert_all_close(actual_list, expected_list, tolerance, what):
    assert len(actual_list) == len(expected_list), (
        f"{what}: {len(actual_list)} outputs, expected {len(expected_list)}"
    )
    for i, (actual, expected) in enumerate(zip(actual_list, expected_list)):
        np.testing.assert_allclose(
            np.asarray(actual, dtype=np.float64),
            np.asarray(expected, dtype=np.float64),
            atol=tolerance,
            rtol=tolerance,
            err_msg=f"{what}: output {i} differs",
        )


def _call(layer_or_fn, inputs, call_kwargs):
    return layer_or_fn(*inputs, **call_kwargs)


def _symbolic_inputs(inputs, dynamic_spatial_shape):
    symbolic = []
    for i, x in enumerate(inputs):
        shape = list(x.shape[1:])
        if dynamic_spatial_shape and x.ndim >= 3:
            shape[: x.ndim - 2] = [None] * (x.ndim - 2)
        symbolic.append(keras.Input(shape=tuple(shape), dtype=str(x.dtype), name=f"input_{i}"))
    return symbolic


def _functional_model(layer, symbolic_inputs, is_multi_input, call_kwargs, float_outputs_only):
    outputs = keras.tree.flatten(_call(layer, symbolic_inputs, call_kwargs))
    if float_outputs_only:
        outputs = [o for o in outputs if _is_float(o.dtype)]
    model_inputs = symbolic_inputs if is_multi_input else symbolic_inputs[0]
    model_outputs = outputs if len(outputs) > 1 else outputs[0]
    return keras.Model(model_inputs, model_outputs)


def _model_inputs(inputs, is_multi_input):
    return inputs if is_multi_input else inputs[0]


def _check_registration(layer_cls):
    expected = f"{REGISTERED_PACKAGE}>{layer_cls.__name__}"
    registered = keras.saving.get_registered_name(layer_cls)
    assert registered == expected, (
        f"{layer_cls.__name__} is registered as {registered!r}, expected {expected!r}"
    )


def _check_eager(
    layer, inputs, call_kwargs, expected_output_shape, num_trainable, num_non_trainable
):
    outputs = _call(layer, inputs, call_kwargs)
    flat = _to_numpy_list(outputs)
    shapes = _expected_shapes(expected_output_shape, len(flat))
    if shapes is not None:
        for i, (out, shape) in enumerate(zip(flat, shapes)):
            assert out.shape == shape, f"output {i} has shape {out.shape}, expected {shape}"
    for i, out in enumerate(flat):
        if _is_float(out.dtype):
            assert out.dtype == np.float32, f"output {i} has dtype {out.dtype}, expected float32"
            assert np.all(np.isfinite(out)), f"output {i} has non-finite values"
    for weight in layer.weights:
        assert weight.dtype == "float32", f"weight {weight.path} has dtype {weight.dtype}"
    if num_trainable is not None:
        assert len(layer.trainable_weights) == num_trainable, (
            f"{len(layer.trainable_weights)} trainable weights, expected {num_trainable}"
        )
    if num_non_trainable is not None:
        assert len(layer.non_trainable_weights) == num_non_trainable, (
            f"{len(layer.non_trainable_weights)} non-trainable weights, "
            f"expected {num_non_trainable}"
        )
    return flat


def _check_config_round_trip(layer, layer_cls, inputs, call_kwargs, reference, tolerance):
    config = layer.get_config()
    json.dumps(config)
    revived = layer_cls.from_config(config)
    assert revived.get_config() == config, (
        f"config changed in a round trip:\n{config}\n!=\n{revived.get_config()}"
    )
    _call(revived, inputs, call_kwargs)
    revived.set_weights(layer.get_weights())
    _assert_all_close(
        _to_numpy_list(_call(revived, inputs, call_kwargs)), reference, tolerance, "from_config"
    )
    deserialized = keras.saving.deserialize_keras_object(
        json.loads(json.dumps(keras.saving.serialize_keras_object(layer)))
    )
    assert isinstance(deserialized, layer_cls), f"deserialised to {type(deserialized)}"


def _check_symbolic(outputs, reference):
    assert len(outputs) == len(reference), (
        f"symbolic call returned {len(outputs)} outputs, eager call {len(reference)}"
    )
    for i, (symbolic, eager) in enumerate(zip(outputs, reference)):
        assert len(symbolic.shape) == eager.ndim, (
            f"symbolic output {i} has shape {symbolic.shape}, eager output {eager.shape}"
        )
        assert symbolic.shape[0] is None, f"symbolic output {i} batch is {symbolic.shape[0]}"
        for axis, (dim, eager_dim) in enumerate(zip(symbolic.shape, eager.shape)):
            assert dim is None or dim == eager_dim, (
                f"symbolic output {i} has shape {symbolic.shape}, eager output {eager.shape} "
                f"(axis {axis})"
            )
        assert keras.backend.standardize_dtype(symbolic.dtype) == str(eager.dtype), (
            f"symbolic output {i} has dtype {symbolic.dtype}, eager output {eager.dtype}"
        )


def _check_keras_round_trip(model, layer_cls, model_inputs, reference, tolerance):
    _assert_all_close(_to_numpy_list(model(model_inputs)), reference, tolerance, "functional")
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "model.keras")
        model.save(path)
        reloaded = keras.saving.load_model(path, safe_mode=True)
    assert any(isinstance(layer, layer_cls) for layer in reloaded.layers), (
        f"the reloaded model holds no {layer_cls.__name__}"
    )
    _assert_all_close(_to_numpy_list(reloaded(model_inputs)), reference, tolerance, ".keras reload")


def _check_gradients(layer, inputs, call_kwargs):
    tensors = [tf.convert_to_tensor(x) for x in inputs]
    rng = np.random.default_rng(0)
    with tf.GradientTape() as tape:
        outputs = keras.tree.flatten(_call(layer, tensors, call_kwargs))
        loss = tf.add_n(
            [
                tf.reduce_sum(o * tf.constant(rng.standard_normal(o.shape.as_list()), o.dtype))
                for o in outputs
                if o.dtype.is_floating
            ]
        )
    weights = layer.trainable_weights
    grads = tape.gradient(loss, weights)
    for weight, grad in zip(weights, grads):
        assert grad is not None, f"no gradient for {weight.path}"
        grad = np.asarray(grad)
        assert np.all(np.isfinite(grad)), f"non-finite gradient for {weight.path}"
        assert np.any(grad != 0), f"all-zero gradient for {weight.path}"


def _check_jit_fit_step(layer_cls, init_kwargs, inputs, is_multi_input, call_kwargs, dynamic):
    layer = layer_cls(**init_kwargs)
    model = _functional_model(
        layer, _symbolic_inputs(inputs, dynamic), is_multi_input, call_kwargs, True
    )
    num_outputs = len(model.outputs)
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=0.1),
        loss=["mse"] * num_outputs if num_outputs > 1 else "mse",
        jit_compile=True,
    )
    assert model.jit_compile is True, "the model was not compiled with XLA"
    model_inputs = _model_inputs(inputs, is_multi_input)
    targets = [np.zeros(o.shape, np.float32) for o in _to_numpy_list(model(model_inputs))]
    before = [w.numpy() for w in layer.trainable_weights]
    history = model.fit(
        model_inputs,
        targets if num_outputs > 1 else targets[0],
        batch_size=inputs[0].shape[0],
        epochs=1,
        shuffle=False,
        verbose=0,
    )
    loss = history.history["loss"][0]
    assert np.isfinite(loss), f"jit-compiled fit step gave loss {loss}"
    after = [w.numpy() for w in layer.trainable_weights]
    changed = [not np.array_equal(b, a) for b, a in zip(before, after)]
    assert not before or any(changed), "the jit-compiled fit step changed no weight"


def _check_mixed_precision(
    layer_cls, init_kwargs, inputs, call_kwargs, float_layer, reference, tol
):
    previous_policy = keras.config.dtype_policy()
    for policy_name in MIXED_PRECISION_POLICIES:
        try:
            keras.config.set_dtype_policy(policy_name)
            layer = layer_cls(**init_kwargs)
            _call(layer, inputs, call_kwargs)
            layer.set_weights(float_layer.get_weights())
            outputs = _to_numpy_list(_call(layer, inputs, call_kwargs))
        finally:
            keras.config.set_dtype_policy(previous_policy)
        assert layer.dtype_policy.name == policy_name, (
            f"layer policy is {layer.dtype_policy.name}, expected {policy_name}"
        )
        compute_dtype = layer.dtype_policy.compute_dtype
        for weight in layer.weights:
            assert weight.dtype == "float32", (
                f"{policy_name}: weight {weight.path} has dtype {weight.dtype}"
            )
        for i, (out, ref) in enumerate(zip(outputs, reference)):
            if not _is_float(ref.dtype):
                continue
            assert keras.backend.standardize_dtype(out.dtype) == compute_dtype, (
                f"{policy_name}: output {i} has dtype {out.dtype}, expected {compute_dtype}"
            )
            out = out.astype(np.float32)
            assert np.all(np.isfinite(out)), f"{policy_name}: output {i} is not finite"
            if tol is not None:
                error = np.max(np.abs(out - ref), initial=0.0)
                bound = tol * (1.0 + np.max(np.abs(ref), initial=0.0))
                assert error <= bound, (
                    f"{policy_name}: output {i} differs from float32 by {error} > {bound}"
                )


def _check_export(model, inputs, is_multi_input, reference, tolerance):
    specs = [
        tf.TensorSpec(shape=symbolic.shape, dtype=symbolic.dtype, name=f"input_{i}")
        for i, symbolic in enumerate(model.inputs)
    ]

    def serve(*tensors):
        return model(list(tensors) if is_multi_input else tensors[0], training=False)

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(name="serve", fn=serve, input_signature=specs)
    with tempfile.TemporaryDirectory() as tmp:
        archive.write_out(tmp, verbose=False)
        reloaded = tf.saved_model.load(tmp)
        outputs = reloaded.serve(*[tf.convert_to_tensor(x) for x in inputs])
    _assert_all_close(_to_numpy_list(outputs), reference, tolerance, "SavedModel reload")


def numpy_same_padding(spatial_shape, kernel_size, strides=(1, 1), dilation_rate=(1, 1)):
    """((top, bottom), (left, right)) zero padding of TensorFlow's "same" convolution."""
    pads = []
    for size, kernel, stride, dilation in zip(spatial_shape, kernel_size, strides, dilation_rate):
        extent = (kernel - 1) * dilation + 1
        output_size = -(-size // stride)
        total = max((output_size - 1) * stride + extent - size, 0)
        pads.append((total // 2, total - total // 2))
    return tuple(pads)


def numpy_windows(
    x, kernel_size, strides=(1, 1), dilation_rate=(1, 1), padding=((0, 0), (0, 0)), mode="constant"
):
    """All windows of NHWC `x` after `np.pad(..., mode)`, as float64 [B, H', W', kh, kw, C]."""
    x = np.pad(np.asarray(x, np.float64), ((0, 0), padding[0], padding[1], (0, 0)), mode=mode)
    extent = [(k - 1) * d + 1 for k, d in zip(kernel_size, dilation_rate)]
    out_h = (x.shape[1] - extent[0]) // strides[0] + 1
    out_w = (x.shape[2] - extent[1]) // strides[1] + 1
    windows = np.empty((x.shape[0], out_h, out_w, kernel_size[0], kernel_size[1], x.shape[3]))
    for i in range(out_h):
        for j in range(out_w):
            top, left = i * strides[0], j * strides[1]
            windows[:, i, j] = x[
                :,
                top : top + extent[0] : dilation_rate[0],
                left : left + extent[1] : dilation_rate[1],
            ]
    return windows


def run_layer_test(
    layer_cls,
    init_kwargs,
    input_data,
    expected_output_shape=None,
    call_kwargs=None,
    expected_num_trainable_weights=None,
    expected_num_non_trainable_weights=None,
    dynamic_spatial_shape=True,
    run_training_check=True,
    run_mixed_precision_check=True,
    run_export_check=True,
    tolerance=1e-5,
    mixed_precision_tolerance=0.05,
):
    """Runs the shared layer checks (see the module docstring); returns the float32 layer."""
    call_kwargs = dict(call_kwargs or {})
    inputs, is_multi_input = _as_input_list(input_data)
    _check_registration(layer_cls)

    layer = layer_cls(**init_kwargs)
    reference = _check_eager(
        layer,
        inputs,
        call_kwargs,
        expected_output_shape,
        expected_num_trainable_weights,
        expected_num_non_trainable_weights,
    )
    _check_config_round_trip(layer, layer_cls, inputs, call_kwargs, reference, tolerance)

    symbolic_inputs = _symbolic_inputs(inputs, dynamic_spatial_shape)
    model = _functional_model(layer, symbolic_inputs, is_multi_input, call_kwargs, False)
    _check_symbolic(model.outputs, reference)
    model_inputs = _model_inputs(inputs, is_multi_input)
    _check_keras_round_trip(model, layer_cls, model_inputs, reference, tolerance)

    if run_training_check:
        _check_gradients(layer, inputs, call_kwargs)
        _check_jit_fit_step(
            layer_cls, init_kwargs, inputs, is_multi_input, call_kwargs, dynamic_spatial_shape
        )
    if run_mixed_precision_check:
        _check_mixed_precision(
            layer_cls, init_kwargs, inputs, call_kwargs, layer, reference,
            mixed_precision_tolerance,
        )
    if run_export_check:
        _check_export(model, inputs, is_multi_input, reference, tolerance)
    return layer
