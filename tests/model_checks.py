"""Checks shared by the per-model test files (``tests/test_<model>.py``).

`tests/` is not a package: pytest puts it on `sys.path`, so a test file imports these as
``from model_checks import assert_composited``. Each model's file keeps its paper-specific
assertions and calls these for what every model shares: its batches of photos with per-sample
holes, composited outputs, every weight updated by a training step, the config and ``.keras``
round trips, and one `fit` step on a dataset of dict batches. `tests/test_models_common.py`
runs the registry-wide versions of these checks on each model's tiny configuration.
"""

import keras
import numpy as np
import tensorflow as tf


def batch_with_holes(height, width, holes, batch_size=None, seed=0):
    """A batch ``{"image": [B, H, W, 3], "mask": [B, H, W, 1]}`` of float32 arrays.

    The images are uniform in [0, 1) from ``np.random.default_rng(seed)``; sample ``i`` has
    its hole (mask 1) at ``mask[i, rows, columns]`` for ``holes[i] = (rows, columns)`` (two
    slices); samples beyond ``len(holes)`` have none. `batch_size` defaults to ``len(holes)``.
    """
    batch_size = len(holes) if batch_size is None else batch_size
    rng = np.random.default_rng(seed)
    image = rng.random((batch_size, height, width, 3)).astype("float32")
    mask = np.zeros((batch_size, height, width, 1), "float32")
    for sample, (rows, columns) in enumerate(holes):
        mask[sample, rows, columns] = 1.0
    return {"image": image, "mask": mask}


def quarter_holes_batch(height=32, width=32, batch_size=2, seed=0):
    """`batch_with_holes` with a hole in the top-left quarter's lower-right part of sample 0
    and one over the bottom half's right two thirds of sample 1."""
    holes = [
        (slice(height // 4, height // 2), slice(width // 4, width // 2)),
        (slice(height // 2, None), slice(width // 3, None)),
    ]
    return batch_with_holes(height, width, holes, batch_size=batch_size, seed=seed)


def assert_composited(batch, output):
    """`output` is float32, finite, of the image's shape, and equal to the image bit for bit
    wherever the mask is 0."""
    output = np.asarray(output)
    image = np.asarray(batch["image"])
    assert output.shape == image.shape and output.dtype == np.float32
    assert np.isfinite(output).all()
    known = np.asarray(batch["mask"])[..., 0] == 0
    np.testing.assert_array_equal(output[known], image[known])


def assert_finite_losses(results):
    """Every value of a ``train_step`` result dict is a finite number."""
    assert all(np.isfinite(float(value)) for value in results.values()), results


def assert_float32_finite_output(model, batch):
    """The model's output on `batch` is float32 (under any dtype policy) and finite."""
    output = model(batch)
    assert output.dtype == tf.float32 and np.isfinite(np.asarray(output)).all()


def snapshot(variables):
    """Copies of the variables' current values."""
    return [v.numpy().copy() for v in variables]


def changed(variables, before):
    """Per variable, whether its value differs from its `snapshot` `before`."""
    return [not np.array_equal(v.numpy(), b) for v, b in zip(variables, before)]


def assert_every_weight_moved(variables, before):
    """Every variable differs from its `snapshot` `before` (lists the paths of those that do
    not)."""
    unchanged = [v.path for v, moved in zip(variables, changed(variables, before)) if not moved]
    assert not unchanged, unchanged


def assert_config_and_keras_file_round_trip(model, tmp_path, batch):
    """``from_config`` and a saved ``.keras`` file rebuild `model`: same class and config,
    and the reloaded model's output on `batch` matches the original's (to 1e-6).

    The outputs are computed after saving, so that a model with a seeded random state (the
    latent search) draws the same numbers in both. Returns the reloaded model.
    """
    config = model.get_config()
    assert type(model).from_config(config).get_config() == config
    model.save(tmp_path / "model.keras")
    reloaded = keras.saving.load_model(tmp_path / "model.keras")
    assert isinstance(reloaded, type(model))
    assert reloaded.get_config() == config
    np.testing.assert_allclose(np.asarray(reloaded(batch)), np.asarray(model(batch)), atol=1e-6)
    return reloaded


def fit_one_step(model, batch):
    """One `fit` step on a dataset holding the dict `batch`; checks that every loss term is
    logged and finite and that the model counted one step. Returns the history dict."""
    history = model.fit(tf.data.Dataset.from_tensors(batch), epochs=1, verbose=0).history
    assert set(model.loss_terms) <= set(history)
    assert all(np.isfinite(values[-1]) for values in history.values()), history
    assert int(model.train_steps.numpy()) == 1
    return history


def assert_generator_trains_alone(model, batch, zero_terms):
    """One `train_step` of a model built with its adversarial weight at 0: the `zero_terms`
    are reported as 0, every generator weight moves, no discriminator variable changes (not
    even a spectral norm's power iteration) and the discriminator optimizer never steps."""
    discriminator_before = snapshot(model.discriminator_variables)
    generator_before = snapshot(model.generator_variables)
    results = {name: float(value) for name, value in model.train_step(batch).items()}
    assert all(results[name] == 0.0 for name in zero_terms), results
    assert_every_weight_moved(model.generator_variables, generator_before)
    assert not any(changed(model.discriminator_variables, discriminator_before))
    assert int(model.discriminator_optimizer.iterations) == 0
    return results
