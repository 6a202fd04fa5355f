"""LatentSearchInpainter (Yeh et al. 2017): DCGAN training, the in-graph latent search, export."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2

from keras_inpaint.models.base import dtype_policy_scope
from keras_inpaint.models.latent_search import LatentSearchInpainter
import model_checks

TINY = {"image_size": 32, "width": 4, "latent_dim": 8, "search_steps": 3, "candidates": 2}
PYTHON_FUNCTION_OPS = {"PyFunc", "PyFuncStateless", "EagerPyFunc"}


def make_batch(height=32, width=32, batch_size=2, seed=0):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    smooth = np.stack([0.5 + 0.4 * np.sin(3 * x + c) * np.cos(2 * y) for c in range(3)], -1)
    image = np.clip(smooth + 0.05 * rng.random((batch_size, height, width, 3)), 0, 1)
    mask = np.zeros((batch_size, height, width, 1), np.float32)
    mask[0, height // 4 : height // 2, width // 3 : 2 * width // 3] = 1.0
    mask[1, height // 2 :, : width // 2] = 1.0
    return {"image": image.astype(np.float32), "mask": mask}


def as_tensors(batch):
    return {key: tf.constant(value) for key, value in batch.items()}


@pytest.fixture(scope="module")
def trained():
    """A tiny DCGAN trained for a few steps (the latent search needs a generator that moves)."""
    keras.utils.set_random_seed(0)
    model = LatentSearchInpainter(seed=3, **{**TINY, "width": 8, "latent_dim": 16})
    model.compile()
    step = tf.function(model.train_step)
    batch = as_tensors(make_batch(batch_size=4))
    for _ in range(5):
        step(batch)
    return model


@pytest.mark.parametrize("size", [(32, 32), (40, 56)])
def test_forward_any_size_keeps_known_pixels(size):
    model = LatentSearchInpainter(seed=0, **TINY)
    batch = make_batch(*size)
    model_checks.assert_composited(batch, model(as_tensors(batch)))


def test_train_step_losses_and_every_weight_moves():
    model = LatentSearchInpainter(seed=0, **TINY)
    model.compile()
    before = model_checks.snapshot(model.trainable_variables)
    results = tf.function(model.train_step)(as_tensors(make_batch()))
    assert set(results) == set(LatentSearchInpainter.loss_terms)
    model_checks.assert_finite_losses(results)
    model_checks.assert_every_weight_moved(model.trainable_variables, before)
    assert len(model.trainable_variables) == len(model.generator.trainable_variables) + len(
        model.discriminator.trainable_variables
    )


def test_search_lowers_the_loss_and_keeps_the_best_candidate(trained):
    batch = make_batch()
    best, losses = trained.search(batch["image"], batch["mask"], steps=30)
    assert best.shape == (2, 32, 32, 3)
    context, prior = losses["context"].numpy(), losses["prior"].numpy()
    assert context.shape == prior.shape == (31, 2, trained.candidates)
    total = context + prior
    assert (total[-1] < total[0]).all()
    assert (context[-1] < context[0]).all()
    best_index = np.argmin(total[-1], axis=1)
    assert (total[-1].min(axis=1) == total[-1, [0, 1], best_index]).all()


def test_search_context_loss_matches_a_hand_computation(trained):
    """Weights on known pixels: the fraction of missing pixels in the 7x7 window (0 in the hole)."""
    batch = make_batch()
    mask = np.zeros((2, 32, 32, 1), np.float32)
    mask[:, 10:13, 20:22] = 1.0  # a tiny 3x2 hole
    best, losses = trained.search(batch["image"], mask, steps=0)
    hole = mask[..., 0]
    weights = np.zeros_like(hole)
    for b, i, j in np.ndindex(hole.shape):
        if hole[b, i, j] == 0:
            window = hole[b, max(i - 3, 0) : i + 4, max(j - 3, 0) : j + 4]
            weights[b, i, j] = window.sum() / 49.0
    assert weights[0, 9, 20] == pytest.approx(6 / 49) and weights[0, 11, 21] == 0
    assert weights[0, 10, 25] == 0 and weights[0, 10, 24] == pytest.approx(3 / 49)
    generated = 2.0 * best.numpy() - 1.0
    corrupted = 2.0 * batch["image"] - 1.0
    expected = np.sum(weights[..., None] * np.abs(generated - corrupted), axis=(1, 2, 3))
    context, prior = losses["context"].numpy()[0], losses["prior"].numpy()[0]
    chosen = np.argmin(context + prior, axis=1)
    np.testing.assert_allclose(context[[0, 1], chosen], expected, rtol=1e-4)


def test_search_is_deterministic_given_the_seed_and_the_weights(trained):
    batch = make_batch()
    clone = LatentSearchInpainter.from_config(trained.get_config())
    clone.set_weights(trained.get_weights())
    fresh = LatentSearchInpainter.from_config(trained.get_config())
    fresh.set_weights(trained.get_weights())
    a, _ = clone.search(batch["image"], batch["mask"])
    b, _ = fresh.search(batch["image"], batch["mask"])
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    again, _ = fresh.search(batch["image"], batch["mask"])  # a second call: the same codes
    np.testing.assert_array_equal(again.numpy(), b.numpy())
    # Each image's result is its own: the same alone, or second in a batch.
    alone, _ = fresh.search(batch["image"][1:], batch["mask"][1:])
    swapped, _ = fresh.search(batch["image"][::-1], batch["mask"][::-1])
    np.testing.assert_allclose(alone.numpy()[0], b.numpy()[1], atol=1e-5)
    np.testing.assert_allclose(swapped.numpy()[0], b.numpy()[1], atol=1e-5)
    unseeded = LatentSearchInpainter.from_config({**trained.get_config(), "seed": None})
    unseeded.set_weights(trained.get_weights())
    first, _ = unseeded.search(batch["image"], batch["mask"])
    second, _ = unseeded.search(batch["image"], batch["mask"])  # new codes at every call
    assert not np.array_equal(first.numpy(), second.numpy())


def test_exported_search_graph_has_no_python_function_ops(tmp_path):
    model = LatentSearchInpainter(seed=0, **TINY)
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        "serving_default",
        tf.function(
            lambda image, mask: model({"image": image, "mask": mask}),
            input_signature=[
                tf.TensorSpec([None, None, None, 3], tf.float32, name="image"),
                tf.TensorSpec([None, None, None, 1], tf.float32, name="mask"),
            ],
        ),
    )
    archive.write_out(str(tmp_path / "saved"), verbose=False)
    saved_model = saved_model_pb2.SavedModel()
    saved_model.ParseFromString((tmp_path / "saved" / "saved_model.pb").read_bytes())
    graph = saved_model.meta_graphs[0].graph_def
    op_types = {node.op for node in graph.node}
    for function in graph.library.function:
        op_types |= {node.op for node in function.node_def}
    assert not op_types & PYTHON_FUNCTION_OPS
    assert op_types & {"While", "StatelessWhile"}  # the search and the blend loops

    batch = make_batch(24, 40)
    serving = tf.saved_model.load(str(tmp_path / "saved")).signatures["serving_default"]
    (output,) = serving(**as_tensors(batch)).values()
    known = batch["mask"][..., 0] == 0
    np.testing.assert_array_equal(output.numpy()[known], batch["image"][known])


def test_config_and_keras_file_round_trip(tmp_path):
    model = LatentSearchInpainter(seed=5, blend=False, prior_weight=0.01, **TINY)
    # Both start from the same seed state, so the searches draw the same codes.
    model_checks.assert_config_and_keras_file_round_trip(model, tmp_path, as_tensors(make_batch()))


def test_mixed_float16_train_step_and_search_are_finite():
    with dtype_policy_scope("mixed_float16"):
        model = LatentSearchInpainter(seed=0, **TINY)
        model.compile()
        assert model.generator.compute_dtype == "float16"
        model_checks.assert_finite_losses(tf.function(model.train_step)(as_tensors(make_batch())))
        model_checks.assert_float32_finite_output(model, as_tensors(make_batch()))


def test_fit_one_step_on_a_dataset_of_dicts():
    model = LatentSearchInpainter(seed=0, **TINY)
    model.compile()
    model_checks.fit_one_step(model, make_batch())


def test_summary_images_are_generator_samples():
    model = LatentSearchInpainter(seed=0, **TINY)
    samples = model.summary_images(as_tensors(make_batch()))["samples"].numpy()
    assert samples.shape == (2, 32, 32, 3)
    assert samples.min() >= 0.0 and samples.max() <= 1.0


def test_invalid_arguments_raise():
    with pytest.raises(ValueError, match="candidates"):
        LatentSearchInpainter(**{**TINY, "candidates": 0})
    with pytest.raises(ValueError, match="image_size"):
        LatentSearchInpainter(**{**TINY, "image_size": 40})
    model = LatentSearchInpainter(**TINY)
    with pytest.raises(ValueError, match="mask"):
        model.search(np.zeros((1, 32, 32, 3), np.float32), np.zeros((1, 32, 32, 3), np.float32))
