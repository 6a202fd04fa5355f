"""ContextEncoder (Pathak et al. 2016): shapes, compositing, geometry, training, serialisation."""

import numpy as np
import pytest
import tensorflow as tf

from keras_inpaint.models.base import dtype_policy_scope
from keras_inpaint.models.context_encoder import ContextEncoder
import model_checks

TINY = {"image_size": 32, "width": 4}


def make_batch(height=32, width=32, batch_size=2, seed=0):
    rng = np.random.default_rng(seed)
    image = rng.random((batch_size, height, width, 3), dtype=np.float32)
    mask = np.zeros((batch_size, height, width, 1), np.float32)
    mask[0, height // 4 : height // 2, width // 3 : 2 * width // 3] = 1.0
    mask[1, height // 2 :, : width // 2] = 1.0
    return {"image": image, "mask": mask}


def as_tensors(batch):
    return {key: tf.constant(value) for key, value in batch.items()}


@pytest.mark.parametrize("variant", ["random_region", "center"])
@pytest.mark.parametrize("size", [(32, 32), (45, 70)])
def test_forward_any_size_composited(variant, size):
    model = ContextEncoder(variant=variant, **TINY)
    batch = make_batch(*size)
    model_checks.assert_composited(batch, model(as_tensors(batch)))


def test_published_bottleneck_parameter_count():
    model = ContextEncoder()  # 128x128, width 64: the encoder ends at 4x4x512
    layer = model.generator.get_layer("bottleneck_channelwise")
    assert layer.input.shape[1:] == (4, 4, 512)
    assert layer.count_params() == 512 * 16 * 16 + 512 * 16
    assert model.generator.output.shape[1:] == (128, 128, 3)
    centre = ContextEncoder(variant="center")
    assert centre.generator.output.shape[1:] == (64, 64, 3)


def test_center_geometry_at_128():
    model = ContextEncoder(variant="center", width=4)
    assert model.predicted_region() == (32, 32, 64, 64)
    hole = model.center_hole()[0, ..., 0]
    rows, cols = np.nonzero(hole)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (36, 91, 36, 91)
    assert hole.sum() == 56 * 56


def test_center_network_input_drops_the_shrunk_centre():
    model = ContextEncoder(variant="center", **TINY)
    batch = make_batch()
    network_input = np.asarray(model.summary_images(as_tensors(batch))["network_input"])
    hole = np.zeros((32, 32), bool)
    hole[12:20, 12:20] = True  # centre 16x16 at [8, 24) minus the 4-pixel overlap band
    np.testing.assert_allclose(
        network_input[:, hole], np.broadcast_to(model.mean_pixel, (2, 64, 3)), atol=1e-7
    )
    np.testing.assert_array_equal(network_input[:, ~hole], batch["image"][:, ~hole])


def test_center_fill_outside_the_predicted_region_is_the_mean_colour():
    model = ContextEncoder(variant="center", **TINY)
    batch = make_batch()
    batch["mask"][:] = 0.0
    batch["mask"][:, :4, :4] = 1.0  # a corner, outside the central region [8, 24)
    output = np.asarray(model(as_tensors(batch)))
    np.testing.assert_allclose(
        output[:, :4, :4], np.broadcast_to(model.mean_pixel, (2, 4, 4, 3)), atol=1e-6
    )


@pytest.mark.parametrize("variant", ["random_region", "center"])
def test_train_step_losses_and_every_weight_moves(variant):
    model = ContextEncoder(variant=variant, **TINY)
    model.compile()
    batch = as_tensors(make_batch())
    hole = (
        np.broadcast_to(model.center_hole(), (2, 32, 32, 1))
        if variant == "center"
        else batch["mask"].numpy()
    )
    # Eq. 1 by hand: weighted mean squared error over the predicted region (the centre
    # 16x16 with 10x weight on its 4-pixel band) or over the whole image with the hole mask.
    fill = model._fill(batch["image"], tf.constant(hole), training=True).numpy()
    error = (fill - batch["image"].numpy()) ** 2
    if variant == "center":
        weights = np.full((16, 16, 1), 10.0, np.float32)
        weights[4:12, 4:12] = 1.0
        expected = np.mean(weights * error[:, 8:24, 8:24])
    else:
        expected = np.mean(hole * error)
    before = model_checks.snapshot(model.trainable_variables)
    results = {k: float(v) for k, v in tf.function(model.train_step)(batch).items()}
    assert set(results) == set(ContextEncoder.loss_terms)
    model_checks.assert_finite_losses(results)
    np.testing.assert_allclose(results["reconstruction_loss"], expected, rtol=1e-4)
    np.testing.assert_allclose(
        results["generator_loss"],
        0.999 * results["reconstruction_loss"] + 0.001 * results["adversarial_loss"],
        rtol=1e-5,
    )
    model_checks.assert_every_weight_moved(model.trainable_variables, before)
    assert len(model.trainable_variables) == len(model.generator.trainable_variables) + len(
        model.discriminator.trainable_variables
    )


def test_default_optimizers_follow_the_paper():
    optimizers = ContextEncoder(**TINY).default_optimizers()
    generator, discriminator = optimizers["generator"], optimizers["discriminator"]
    assert float(generator.learning_rate) == pytest.approx(10 * float(discriminator.learning_rate))
    assert float(discriminator.learning_rate) == pytest.approx(2e-4)
    assert float(generator.beta_1) == float(discriminator.beta_1) == 0.5


def test_config_and_keras_file_round_trip(tmp_path):
    model = ContextEncoder(variant="center", overlap=2, mean_pixel=(0.1, 0.2, 0.3), **TINY)
    batch = as_tensors(make_batch(40, 40))
    model_checks.assert_config_and_keras_file_round_trip(model, tmp_path, batch)


def test_mixed_float16_train_step_is_finite():
    with dtype_policy_scope("mixed_float16"):
        model = ContextEncoder(**TINY)
        model.compile()
        assert model.generator.get_layer("encoder_conv1").compute_dtype == "float16"
        model_checks.assert_finite_losses(tf.function(model.train_step)(as_tensors(make_batch())))
        model_checks.assert_float32_finite_output(model, as_tensors(make_batch()))


def test_fit_one_step_on_a_dataset_of_dicts():
    model = ContextEncoder(**TINY)
    model.compile()
    model_checks.fit_one_step(model, make_batch())


def batches_of_unknown_size(*batches):
    """A dataset of the dict `batches` whose height and width are unknown until run time (as
    from a generator or a `tf.py_function` decoding photos)."""
    spec = {key: tf.TensorSpec((None, None, None, channels), tf.float32)
            for key, channels in (("image", 3), ("mask", 1))}
    return tf.data.Dataset.from_generator(lambda: iter(batches), output_signature=spec)


def test_fit_on_images_of_sizes_unknown_until_run_time():
    """A TypeError in the channel-wise bottleneck before; the size is now checked when the
    step runs."""
    model = ContextEncoder(variant="center", **TINY)
    model.compile()
    history = model.fit(batches_of_unknown_size(make_batch()), verbose=0).history
    model_checks.assert_finite_losses({key: values[-1] for key, values in history.items()})
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"\[2,40,40,3\].*\[\?,32,32,3\]"):
        model.fit(batches_of_unknown_size(make_batch(40, 40)), verbose=0)


def test_invalid_arguments_raise():
    with pytest.raises(ValueError, match="variant"):
        ContextEncoder(variant="corner", **TINY)
    with pytest.raises(ValueError, match="image_size"):
        ContextEncoder(image_size=48, width=4)
    with pytest.raises(ValueError, match="overlap"):
        ContextEncoder(variant="center", overlap=8, **TINY)
    model = ContextEncoder(**TINY)
    model.compile()
    with pytest.raises(ValueError, match=r"received image shape \(2, 64, 64, 3\)"):
        model.train_step(as_tensors(make_batch(64, 64)))
