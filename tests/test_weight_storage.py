"""Preset weight storage (keras_inpaint.weight_storage): int8 per-channel quantisation against
a plain NumPy loop over the channels, the files Keras reads back, and refusals."""

import h5py
import keras
import numpy as np
import pytest

from keras_inpaint import weight_storage
from keras_inpaint.models import get_model_class
from keras_inpaint.weight_storage import (
    INT8_SCALE_ATTRIBUTE,
    SEED_STATE_KEY,
    dequantize_int8,
    quantize_int8,
    readable_copy,
    write_weights,
)
from tiny_models import TINY_CONFIGS


def has_int8(path):
    """Whether the weights file at `path` holds int8 arrays (with their scales)."""
    found = []
    with h5py.File(path, "r") as weights:
        weights.visititems(lambda _, item: found.append(INT8_SCALE_ATTRIBUTE in item.attrs))
    return any(found)


def loop_quantize(values):
    """Per last-axis channel: s = max|w| / 127 (1 if all zero), q = round-half-even(w / s),
    with s as stored (float32)."""
    flat = values.reshape(-1, values.shape[-1])
    scales = np.empty(flat.shape[1], np.float32)
    quantized = np.empty(flat.shape, np.int8)
    for channel in range(flat.shape[1]):
        largest = max(abs(float(v)) for v in flat[:, channel])
        scales[channel] = largest / 127 if largest > 0 else 1.0  # stored as float32
        for row in range(flat.shape[0]):
            quantized[row, channel] = round(float(flat[row, channel]) / float(scales[channel]))
    return quantized.reshape(values.shape), scales


def test_quantize_int8_matches_a_loop_over_channels_and_bounds_the_error():
    rng = np.random.default_rng(0)
    values = rng.normal(0.0, [0.01, 1.0, 30.0, 0.5], size=(3, 3, 5, 4)).astype(np.float32)
    values[..., 3] = 0.0  # an all-zero channel
    quantized, scales = quantize_int8(values)
    expected_q, expected_scales = loop_quantize(values)
    assert quantized.dtype == np.int8 and scales.dtype == np.float32 and scales.shape == (4,)
    np.testing.assert_allclose(scales, expected_scales, rtol=1e-7)
    np.testing.assert_array_equal(quantized, expected_q)
    assert np.abs(quantized[..., :3]).reshape(-1, 3).max(axis=0).tolist() == [127] * 3
    restored = dequantize_int8(quantized, scales)
    assert restored.dtype == np.float32
    assert (np.abs(restored - values) <= scales / 2 * (1 + 1e-6)).all()
    assert (restored[..., 3] == 0).all()


def small_model():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 16))
    x = keras.layers.Conv2D(16, 3, padding="same")(inputs)  # kernel: 2,304 values
    x = keras.layers.BatchNormalization()(x)
    return keras.Model(inputs, keras.layers.Conv2D(2, 1)(x))  # kernel: 32 values


def test_int8_file_is_small_and_loads_the_dequantized_kernels(tmp_path):
    model = small_model()
    model.save_weights(tmp_path / "float32.weights.h5")
    write_weights(tmp_path / "float32.weights.h5", tmp_path / "int8.weights.h5", "int8")
    with h5py.File(tmp_path / "int8.weights.h5") as f:
        stored = {}
        f.visititems(lambda name, item: stored.update({name: item})
                     if isinstance(item, h5py.Dataset) else None)
        kinds = {str(item.dtype) for item in stored.values()}
        quantized = [name for name, item in stored.items() if INT8_SCALE_ATTRIBUTE in item.attrs]
        assert kinds == {"int8", "float16"} and len(quantized) == 1
    assert has_int8(tmp_path / "int8.weights.h5")
    assert not has_int8(tmp_path / "float32.weights.h5")
    for stored_as in ("float32", "float16"):  # Keras reads these files themselves
        assert readable_copy(tmp_path / "float32.weights.h5", stored_as, tmp_path) == (
            tmp_path / "float32.weights.h5")
    copy = readable_copy(tmp_path / "int8.weights.h5", "int8", tmp_path / "")
    assert not has_int8(copy)
    restored = small_model()
    for variable in restored.weights:
        variable.assign(np.zeros(variable.shape, variable.dtype))
    restored.load_weights(copy)
    kernel = model.layers[1].kernel.numpy()
    np.testing.assert_array_equal(restored.layers[1].kernel.numpy(),
                                  dequantize_int8(*quantize_int8(kernel)))
    np.testing.assert_array_equal(restored.layers[3].kernel.numpy(),
                                  model.layers[3].kernel.numpy().astype(np.float16))
    def stored_bytes(path):  # the arrays' bytes (a small file is mostly HDF5's own)
        total = []
        with h5py.File(path) as f:
            f.visititems(lambda _, item: total.append(item.nbytes) if isinstance(
                item, h5py.Dataset) else None)
        return sum(total)

    assert stored_bytes(tmp_path / "int8.weights.h5") < 0.3 * stored_bytes(
        tmp_path / "float32.weights.h5")


def test_write_weights_refuses_unknown_types_and_float16_overflow(tmp_path, monkeypatch):
    model = small_model()
    model.layers[3].kernel.assign(np.full((1, 1, 16, 2), 1e5, np.float32))
    model.save_weights(tmp_path / "big.weights.h5")
    with pytest.raises(ValueError, match=r"weights_dtype must be one of .* received 'int4'"):
        write_weights(tmp_path / "big.weights.h5", tmp_path / "x.weights.h5", "int4")
    for storage in ("float16", "int8"):  # int8 keeps the 32-value kernel as float16
        with pytest.raises(ValueError, match=r"weight '.*' has values beyond float16's range"):
            write_weights(tmp_path / "big.weights.h5", tmp_path / "x.weights.h5", storage)
    monkeypatch.setattr(weight_storage, "INT8_MIN_SIZE", 1)  # int8 takes it: no overflow
    write_weights(tmp_path / "big.weights.h5", tmp_path / "x.weights.h5", "int8")


def test_preset_weights_leave_the_random_streams_out(tmp_path, monkeypatch):
    """A run's weights file keeps the model's random streams; a preset written from it does
    not: it loads with Keras' own loader (as keras_inpaint read files before the streams were
    saved: "expected 1 variables, but received 2" otherwise) and starts from its seed."""
    def tiny_global_local():
        return get_model_class("global_local")(**{**TINY_CONFIGS["global_local"], "seed": 3})

    model = tiny_global_local()
    model.seed_generator.next()
    model.save_weights(tmp_path / "run.weights.h5")
    write_weights(tmp_path / "run.weights.h5", tmp_path / "preset.weights.h5",
                  weights_dtype="float16")
    with h5py.File(tmp_path / "run.weights.h5", "r") as run:
        names = []
        run.visit(names.append)
    assert any(name.rsplit("/", 1)[-1].startswith(SEED_STATE_KEY) for name in names)
    older = tiny_global_local()
    monkeypatch.setattr(type(older), "load_own_variables", keras.Model.load_own_variables)
    older.load_weights(tmp_path / "preset.weights.h5")
    assert int(np.asarray(older.seed_generator.state)[1]) == 0
