"""How a preset stores its weights: float32, float16 or int8 in a Keras ``.weights.h5`` file.

- ``float32``: as trained.
- ``float16``: every floating-point array rounded to float16 (half the size); Keras'
  ``load_weights`` casts them back to the model's float32 variables.
- ``int8``: each floating-point array of at least `INT8_MIN_SIZE` values and two or more
  dimensions (the kernels: nearly all of a network's weights) stored as 8-bit integers with
  one float32 scale per output channel (the last axis), symmetric:

      s_c = max_i |w_ic| / 127 (1 where the channel is all zeros),
      q_ic = round(w_ic / s_c) in [-127, 127],   w_ic ~ q_ic * s_c,  |error| <= s_c / 2,

  the usual per-channel weight quantisation of inference libraries (e.g. Jacob et al., CVPR
  2018, "Quantization and Training of Neural Networks for Efficient Integer-Arithmetic-Only
  Inference", with a zero point of 0); the other arrays (biases, normalisation statistics) as
  float16. About a quarter of float32's size. Keras cannot read such a file: `readable_copy`
  writes the float32 file it reads. Computation is unchanged (float32, or the model's
  mixed-precision policy): only the stored values are rounded. Measured on the zoo's
  `partial_conv` (every 10th Kodak24 pair at 128x128): 27.44 dB and 2.054 % masked L1 from
  float16 weights, 27.44 dB and 2.055 % from int8.

Checkpoints of training runs are not affected: they keep float32 and the optimizers' state.
"""

from pathlib import Path

import numpy as np

WEIGHT_DTYPES = ("float32", "float16", "int8")
"""The storage types of a preset's weights (``metadata["weights_dtype"]``)."""

INT8_MIN_SIZE = 1024
"""Arrays smaller than this stay float16 under ``int8``: they weigh little, and a scale per
channel would weigh as much as they do."""

INT8_SCALE_ATTRIBUTE = "keras_inpaint_int8_scale"
"""The HDF5 attribute of an int8 dataset that holds its per-channel scales."""

FLOAT16_MAX = 65504.0
"""Largest float16 value: weights beyond it cannot be stored as float16."""

SEED_STATE_KEY = "seed_generator_"
"""Name prefix of a model's random-stream states among its own variables in a Keras file
(`keras_inpaint.models.base.InpaintingModel.save_own_variables`). A preset leaves them out:
it starts from its seed as presets always did, and older keras_inpaint reads it."""

_LEVELS = 127
_FLOAT_KINDS = ("float16", "float32", "float64")


def quantize_int8(values):
    """``(q, scales)``: int8 `values` with one scale per last-axis channel (module docstring)."""
    values = np.asarray(values, dtype=np.float64)
    largest = np.abs(values.reshape(-1, values.shape[-1])).max(axis=0)
    scales = np.where(largest > 0, largest / _LEVELS, 1.0).astype(np.float32)
    quantized = np.clip(np.rint(values / scales), -_LEVELS, _LEVELS).astype(np.int8)
    return quantized, scales


def dequantize_int8(quantized, scales):
    """float32 ``q * s`` of `quantize_int8`'s output."""
    return (quantized.astype(np.float32) * np.asarray(scales, dtype=np.float32)).astype(
        np.float32
    )


def write_weights(source, target, weights_dtype="float32", group=None):
    """Copy a Keras ``.weights.h5`` file without the optimizers' state, its floating-point
    arrays stored as `weights_dtype`; with `group` (e.g. ``"generator"``), only that
    sub-model's weights, laid out as its own ``load_weights`` reads them.

    A training run's weights file also holds each optimizer's slots (Adam's two moments: twice
    the model's size) and the model's random streams; a preset is for inference and
    fine-tuning, which starts new optimizers, so the top-level groups named ``*optimizer`` are
    left out, and so are the streams (`SEED_STATE_KEY`).

    Raises:
        ValueError: an unknown `weights_dtype`, or float16 storage (also of int8's small
            arrays) of a weight beyond float16's range (the message names it).
    """
    check_weights_dtype(weights_dtype)

    def stored(name, item):
        data, scales = _stored(name, item[()], weights_dtype)
        attributes = dict(item.attrs)
        if scales is not None:
            attributes[INT8_SCALE_ATTRIBUTE] = scales
        return data, attributes

    def skipped(name):
        return (group is None and name.split("/")[0].endswith("optimizer")
                or name.rsplit("/", 1)[-1].startswith(SEED_STATE_KEY))

    _rewrite(source, target, stored, group=group, skipped=skipped)


def check_weights_dtype(weights_dtype):
    """Raise ValueError unless `weights_dtype` is one of `WEIGHT_DTYPES`."""
    if weights_dtype not in WEIGHT_DTYPES:
        raise ValueError(
            f"weights_dtype must be one of {WEIGHT_DTYPES}, received {weights_dtype!r}"
        )


def _stored(name, data, weights_dtype):
    """``(array to store, int8 scales or None)`` of the dataset `name`."""
    if data.dtype.name not in _FLOAT_KINDS:
        return data, None
    if weights_dtype == "float32":
        return data.astype(np.float32), None
    if weights_dtype == "int8" and data.ndim >= 2 and data.size >= INT8_MIN_SIZE:
        return quantize_int8(data)
    if data.size and np.abs(data).max() > FLOAT16_MAX:
        raise ValueError(
            f"weight {name!r} has values beyond float16's range (|x| <= {FLOAT16_MAX}); "
            "store the weights as float32"
        )
    return data.astype(np.float16), None


def readable_copy(path, weights_dtype, directory):
    """The weights file Keras reads for the file at `path`, stored as `weights_dtype` (its
    preset's ``metadata["weights_dtype"]``): `path` itself, unless ``int8``, whose float32
    expansion is written into `directory` (a temporary folder of the caller's)."""
    check_weights_dtype(weights_dtype)
    if weights_dtype != "int8":
        return Path(path)

    def dequantized(_, item):
        attributes = dict(item.attrs)
        scales = attributes.pop(INT8_SCALE_ATTRIBUTE, None)
        return (item[()] if scales is None else dequantize_int8(item[()], scales)), attributes

    target = Path(directory) / ("float32-" + Path(path).name)
    _rewrite(path, target, dequantized)
    return target


def _rewrite(source, target, dataset, group=None, skipped=None):
    """Write the HDF5 file `target` with `source`'s groups (or those under `group`) and
    attributes, each dataset replaced by ``dataset(name, item) -> (array, attributes)``;
    names for which ``skipped(name)`` is true are left out."""
    import h5py

    with h5py.File(source, "r") as src, h5py.File(target, "w") as dst:
        dst.attrs.update(src.attrs)

        def copy(name, item):
            if skipped is not None and skipped(name):
                return
            if isinstance(item, h5py.Group):
                dst.require_group(name).attrs.update(item.attrs)
                return
            data, attributes = dataset(name, item)
            dst.create_dataset(name, data=data).attrs.update(attributes)

        (src if group is None else src[group]).visititems(copy)
