"""GlobalLocalInpainter (GLCIC) and the hole-centred local crop shared with DeepFill v1."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_inpaint.models.base import dtype_policy_scope
from keras_inpaint.models.global_local import GlobalLocalInpainter
from keras_inpaint.models.local_crop import (
    crop_around_holes,
    crop_at,
    hole_centred_offsets,
    pad_to_multiple,
    resolve_local_size,
)
import model_checks

TINY = {"image_size": 32, "width": 4}


def make_batch(height=32, width=32, seed=0):
    """Two samples with different holes: one inside the image, one in the bottom-right corner."""
    holes = [(slice(4, 14), slice(6, 16)), (slice(height - 9, None), slice(width - 7, None))]
    return model_checks.batch_with_holes(height, width, holes, seed=seed)


@pytest.fixture(scope="module")
def model():
    return GlobalLocalInpainter(**TINY, phases=(2, 1, 5))


# ---- the local window -------------------------------------------------------------------
def numpy_offsets(mask, size):
    """Independent reference: centre the window on each hole's bounding box, clip inside."""
    offsets = []
    for sample in mask[..., 0] > 0.5:
        corner = []
        for axis, window in ((0, size[0]), (1, size[1])):
            occupied = np.flatnonzero(sample.any(axis=1 - axis))
            length = sample.shape[axis]
            first, last = (occupied[0], occupied[-1]) if occupied.size else (0, length - 1)
            centre = (first + last) / 2.0
            start = int(np.floor(centre - (window - 1) / 2.0))
            corner.append(min(max(start, 0), length - window))
        offsets.append(corner)
    return np.array(offsets)


def random_masks(rng, count, height, width):
    masks = np.zeros((count, height, width, 1), "float32")
    for index in range(count - 1):  # the last sample has no hole
        top, bottom = sorted(rng.integers(0, height, size=2))
        left, right = sorted(rng.integers(0, width, size=2))
        masks[index, top : bottom + 1, left : right + 1] = 1.0
    masks[0] = 0.0
    masks[0, :5, :3] = 1.0  # top-left corner
    masks[1] = 0.0
    masks[1, -4:, -6:] = 1.0  # bottom-right corner
    return masks


@pytest.mark.parametrize("size", [(8, 8), (6, 11)])
def test_hole_centred_offsets_match_numpy_and_stay_inside(size):
    masks = random_masks(np.random.default_rng(5), 12, 20, 24)
    top, left = (np.asarray(t) for t in hole_centred_offsets(masks, size))
    expected = numpy_offsets(masks, size)
    np.testing.assert_array_equal(np.stack([top, left], axis=1), expected)
    assert (top >= 0).all() and (top + size[0] <= 20).all()
    assert (left >= 0).all() and (left + size[1] <= 24).all()
    assert (top[0], left[0]) == (0, 0)  # hole in the top-left corner
    assert (top[1], left[1]) == (20 - size[0], 24 - size[1])  # bottom-right corner
    assert (top[-1], left[-1]) == ((20 - size[0]) // 2, (24 - size[1]) // 2)  # no hole


def test_window_is_centred_on_an_interior_hole():
    mask = np.zeros((1, 32, 32, 1), "float32")
    mask[0, 10:17, 12:22] = 1.0  # rows 10..16 (centre 13), columns 12..21 (centre 16.5)
    top, left = (int(t[0]) for t in hole_centred_offsets(mask, 16))
    assert abs(top + 7.5 - 13.0) <= 0.5 and abs(left + 7.5 - 16.5) <= 0.5
    crop = np.asarray(crop_around_holes(mask, mask, 16))
    assert crop.sum() == mask.sum()  # the whole hole is inside the window


def test_crop_at_per_sample_matches_slicing_and_passes_gradients():
    images = tf.constant(np.random.default_rng(0).random((3, 10, 12, 2)).astype("float32"))
    top, left = [0, 4, 2], [7, 0, 3]
    with tf.GradientTape() as tape:
        tape.watch(images)
        crops = crop_at(images, top, left, (6, 5))
        total = tf.reduce_sum(crops)
    for index in range(3):
        np.testing.assert_array_equal(
            crops[index].numpy(),
            images[index, top[index] : top[index] + 6, left[index] : left[index] + 5].numpy(),
        )
    gradient = tape.gradient(total, images).numpy()
    assert gradient.sum() == 3 * 6 * 5 * 2 and set(np.unique(gradient)) == {0.0, 1.0}


def test_window_and_size_checks():
    with pytest.raises(ValueError, match="does not fit"):
        hole_centred_offsets(np.zeros((1, 8, 8, 1), "float32"), (9, 4))
    with pytest.raises(ValueError, match="local_size"):
        resolve_local_size(0, (32, 32))
    with pytest.raises(ValueError, match="no larger than image_size"):
        resolve_local_size((16, 40), (32, 32))
    assert resolve_local_size(None, (256, 192)) == (128, 96)
    assert resolve_local_size(12, (32, 32)) == (12, 12)


def test_pad_to_multiple_reflects_and_keeps_the_image():
    images = np.random.default_rng(0).random((1, 6, 7, 1)).astype("float32")
    padded = np.asarray(pad_to_multiple(images, 4))
    assert padded.shape == (1, 8, 8, 1)
    np.testing.assert_array_equal(padded[:, :6, :7], images)
    np.testing.assert_array_equal(padded[:, 6:, :7], images[:, [4, 3], :])


def test_pad_to_multiple_names_images_too_small_to_reflect():
    assert pad_to_multiple(np.zeros((1, 5, 5, 1), "float32"), 8).shape == (1, 8, 8, 1)
    with pytest.raises(ValueError, match=r"at least 5x5 .* multiple of 8, received shape "
                                         r"\(1, 4, 9, 1\)"):
        pad_to_multiple(np.zeros((1, 4, 9, 1), "float32"), 8)
    dynamic = tf.function(lambda images: pad_to_multiple(images, 4),
                          input_signature=[tf.TensorSpec([1, None, None, 1])])
    assert dynamic(tf.zeros((1, 3, 3, 1))).shape == (1, 4, 4, 1)
    with pytest.raises(tf.errors.InvalidArgumentError, match="at least 3x3"):
        dynamic(tf.zeros((1, 2, 7, 1)))


# ---- the model --------------------------------------------------------------------------
def test_architecture_follows_the_paper_tables():
    model = GlobalLocalInpainter(image_size=64, width=64)
    convolutions = [
        layer for layer in model.generator.layers
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.Conv2DTranspose))
    ]
    assert [layer.filters for layer in convolutions] == [
        64, 128, 128, 256, 256, 256, 256, 256, 256, 256, 256, 256, 128, 128, 64, 32, 3
    ]
    assert [layer.dilation_rate[0] for layer in convolutions[6:10]] == [2, 4, 8, 16]
    assert [layer.strides[0] for layer in convolutions] == [1, 2, 1, 2] + [1] * 8 + [2, 1, 2, 1, 1]
    assert [type(layer).__name__ for layer in convolutions].count("Conv2DTranspose") == 2
    batch_norms = [
        layer for layer in model.generator.layers
        if isinstance(layer, keras.layers.BatchNormalization)
    ]
    assert len(batch_norms) == len(convolutions) - 1  # every layer but the sigmoid output
    assert model.generator.layers[-1].activation.__name__ == "sigmoid"

    def filters(prefix):
        return [
            layer.filters for layer in model.discriminator.layers
            if layer.name.startswith(prefix) and isinstance(layer, keras.layers.Conv2D)
        ]

    assert filters("global_conv") == [64, 128, 256, 512, 512, 512]
    assert filters("local_conv") == [64, 128, 256, 512, 512]
    for kind in ("global", "local"):
        assert model.discriminator.get_layer(f"{kind}_fc").units == 1024
    assert model.discriminator.output.shape == (None, 1)
    assert model.local_size == (32, 32)


@pytest.mark.parametrize("size", [(32, 32), (30, 27)])
def test_forward_shapes_and_known_pixels(model, size):
    batch = make_batch(*size)
    output = np.asarray(model(batch))
    model_checks.assert_composited(batch, output)
    assert output.min() >= 0.0 and output.max() <= 1.0


def test_holes_are_filled_with_the_mean_pixel(model):
    """The network sees (image - mean) with zeros in the holes, whatever the hole held."""
    batch = make_batch()
    filled = np.where(batch["mask"] > 0, np.float32(model.mean_pixel), batch["image"])
    np.testing.assert_array_equal(
        np.asarray(model.generate(batch["image"], batch["mask"])),
        np.asarray(model.generate(filled.astype("float32"), batch["mask"])),
    )


def test_phases_arguments_and_schedule():
    model = GlobalLocalInpainter(**TINY, phases="900, 100, 5000")  # as --set passes it
    assert model.phases == (900, 100, 5000)
    assert model.get_config()["phases"] == [900, 100, 5000]
    steps = [0, 899, 900, 999, 1000, 10**6]
    assert [int(model.phase(step)) for step in steps] == [1, 1, 2, 2, 3, 3]
    assert int(model.phase()) == 1  # a new model starts in phase 1
    for bad in ((1, 2), "a,b,c", (5, 6, 10), (-1, 0, 3)):
        with pytest.raises(ValueError, match="phases"):
            GlobalLocalInpainter(**TINY, phases=bad)


def test_one_step_per_phase_trains_the_right_networks():
    model = GlobalLocalInpainter(**TINY, phases=(2, 1, 5), seed=0)
    model.compile()
    step = tf.function(model.train_step)
    batch = make_batch()
    expected = {0: (1, True, False), 2: (2, False, True), 3: (3, True, True)}
    for start, (phase, completion_moves, discriminator_moves) in expected.items():
        model.train_steps.assign(start)
        generator_before = model_checks.snapshot(model.generator_variables)
        discriminator_before = model_checks.snapshot(model.discriminator_variables)
        statistics_before = model_checks.snapshot(model.discriminator.non_trainable_variables)
        results = step(batch)
        assert sorted(results) == sorted(model.loss_terms)
        model_checks.assert_finite_losses(results)
        assert float(results["phase"]) == phase
        generator_changed = model_checks.changed(model.generator_variables, generator_before)
        discriminator_changed = model_checks.changed(
            model.discriminator_variables, discriminator_before
        )
        assert all(generator_changed) == any(generator_changed) == completion_moves
        assert all(discriminator_changed) == any(discriminator_changed) == discriminator_moves
        if phase == 1:  # no adversarial term yet, and the discriminators do not even run
            assert float(results["completion_loss"]) == float(results["reconstruction_loss"])
            assert float(results["discriminator_loss"]) == float(results["adversarial_loss"]) == 0
        statistics_changed = model_checks.changed(
            model.discriminator.non_trainable_variables, statistics_before)
        assert statistics_changed and any(statistics_changed) == (phase != 1)
    assert int(model.generator_optimizer.iterations) == 2
    assert int(model.discriminator_optimizer.iterations) == 2


def test_resume_across_the_phase_boundary(tmp_path):
    first = GlobalLocalInpainter(**TINY, phases=(2, 1, 5))
    first.compile()
    first.train_step(make_batch())  # step 0 -> train_steps = 1 = T_C - 1
    first.save_weights(tmp_path / "run.weights.h5")

    resumed = GlobalLocalInpainter(**TINY, phases=(2, 1, 5))
    resumed.load_weights(tmp_path / "run.weights.h5")
    resumed.compile()
    assert int(resumed.train_steps) == 1 and int(resumed.phase()) == 1
    for expected_phase, completion_moves in ((1, True), (2, False)):
        before = model_checks.snapshot(resumed.generator_variables)
        discriminator_before = model_checks.snapshot(resumed.discriminator_variables)
        results = resumed.train_step(make_batch(seed=expected_phase))
        assert float(results["phase"]) == expected_phase
        assert any(model_checks.changed(resumed.generator_variables, before)) == completion_moves
        assert any(model_checks.changed(resumed.discriminator_variables, discriminator_before)) == (
            not completion_moves
        )
    assert int(resumed.train_steps) == 3


def test_config_and_keras_file_round_trip(model, tmp_path):
    config = model.get_config()
    assert config["mean_pixel"] == [0.4560, 0.4472, 0.4155] and config["alpha"] == 0.0004
    reloaded = model_checks.assert_config_and_keras_file_round_trip(model, tmp_path, make_batch())
    assert reloaded.phases == (2, 1, 5)


def test_mixed_float16_train_step_is_finite():
    with dtype_policy_scope("mixed_float16"):
        model = GlobalLocalInpainter(**TINY, phases=(0, 0, 5))
        model.compile()
        model_checks.assert_finite_losses(model.train_step(make_batch()))
        assert model(make_batch()).dtype == "float32"


def test_fit_reports_the_current_phase():
    model = GlobalLocalInpainter(**TINY, phases=(1, 1, 5))
    model.compile(run_eagerly=True)
    dataset = tf.data.Dataset.from_tensors(make_batch()).repeat(3)
    history = model.fit(dataset, epochs=1, verbose=0)
    assert sorted(history.history) == sorted(model.loss_terms)
    assert history.history["phase"] == [3.0]  # the last step's phase, not an average
    assert int(model.train_steps) == 3
