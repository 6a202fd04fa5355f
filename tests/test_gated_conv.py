"""GatedConvInpainter (DeepFill v2), the SN-PatchGAN builder and the nearest-resize helper."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_inpaint.layers import ContextualAttention
from keras_inpaint.models.base import dtype_policy_scope
from keras_inpaint.models.discriminators import build_sn_patch_gan
from keras_inpaint.models.gated_conv import GatedConvInpainter
from keras_inpaint.models.resize import NearestResize, resize_nearest
import model_checks
from model_checks import quarter_holes_batch as make_batch

TINY = {"image_size": 32, "width": 4}


@pytest.fixture(scope="module")
def model():
    model = GatedConvInpainter(**TINY)
    model.compile()
    return model


# ---- resize helper ----------------------------------------------------------------------
def numpy_nearest_indices(n_in, n_out, align_corners):
    """TF1 resize_nearest_neighbor source indices, written independently in NumPy."""
    i = np.arange(n_out, dtype=np.float64)
    if align_corners and n_out > 1:
        return np.minimum(np.floor(i * (n_in - 1) / (n_out - 1) + 0.5), n_in - 1).astype(int)
    return np.minimum(np.floor(i * n_in / n_out), n_in - 1).astype(int)


@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize(
    "size_in, size_out", [((8, 6), (4, 3)), ((5, 7), (10, 14)), ((64, 32), (16, 8))]
)
def test_resize_nearest_matches_numpy(align_corners, size_in, size_out):
    x = np.random.default_rng(0).random((2, *size_in, 3)).astype("float32")
    rows = numpy_nearest_indices(size_in[0], size_out[0], align_corners)
    columns = numpy_nearest_indices(size_in[1], size_out[1], align_corners)
    expected = x[:, rows][:, :, columns]
    resized = resize_nearest(x, size_out, align_corners=align_corners)
    np.testing.assert_array_equal(resized, expected)
    tf1_op = tf.raw_ops.ResizeNearestNeighbor(
        images=x, size=size_out, align_corners=align_corners, half_pixel_centers=False
    )
    np.testing.assert_array_equal(resized, tf1_op)


def test_resize_nearest_gradient_compiles_with_xla():
    @tf.function(jit_compile=True)
    def gradient(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = resize_nearest(x, (8, 8))
        return tape.gradient(y, x)

    np.testing.assert_array_equal(gradient(tf.ones((1, 4, 4, 2))), np.full((1, 4, 4, 2), 4.0))


def test_nearest_resize_layer_scale_and_reference():
    x = np.arange(2 * 8 * 8, dtype="float32").reshape(2, 8, 8, 1)
    up = NearestResize(scale=2)(x)
    np.testing.assert_array_equal(up, np.repeat(np.repeat(x, 2, axis=1), 2, axis=2))
    down = NearestResize(align_corners=True)(x, reference=np.zeros((2, 4, 4, 5)))
    np.testing.assert_array_equal(down, x[:, [0, 2, 5, 7]][:, :, [0, 2, 5, 7]])
    with pytest.raises(ValueError, match="scale must be a positive integer"):
        NearestResize(scale=0)


# ---- discriminator ----------------------------------------------------------------------
def test_sn_patch_gan_shapes_and_layers():
    discriminator = build_sn_patch_gan(input_channels=5, channels=4)
    scores = discriminator(np.zeros((2, 128, 64, 5), "float32"), training=True)
    assert scores.shape == (2, 2 * 1 * 16)  # 4 * 4 channels at H/64 x W/64
    kernels = [discriminator.get_layer(f"conv{i}").layer.kernel.shape for i in range(1, 7)]
    assert [k[-1] for k in kernels] == [4, 8, 16, 16, 16, 16]
    assert all(k[:2] == (5, 5) for k in kernels)


# ---- model ------------------------------------------------------------------------------
def test_layer_layout_matches_the_authors_graph():
    """Kernel shapes of the authors' DeepFill v2 (cnum 48) checkpoint, under their names."""
    full = GatedConvInpainter(image_size=256)
    expected = {
        "conv1": (5, 5, 5, 48),
        "conv2_downsample": (3, 3, 24, 96),
        "conv10_atrous": (3, 3, 96, 192),
        "conv13_upsample_conv": (3, 3, 96, 96),
        "conv16": (3, 3, 24, 24),
        "conv17": (3, 3, 12, 3),
        "xconv1": (5, 5, 3, 48),
        "xconv2_downsample": (3, 3, 24, 48),
        "xconv5": (3, 3, 48, 192),
        "pmconv4_downsample": (3, 3, 48, 192),
        "pmconv9": (3, 3, 96, 192),
        "allconv11": (3, 3, 192, 192),
        "allconv15_upsample_conv": (3, 3, 48, 48),
        "allconv17": (3, 3, 12, 3),
    }
    for name, shape in expected.items():
        assert tuple(full.generator.get_layer(name).kernel.shape) == shape, name
    first, last = (full.discriminator.get_layer(n).layer.kernel.shape for n in ("conv1", "conv6"))
    assert tuple(first) == (5, 5, 4, 64) and tuple(last) == (5, 5, 256, 256)
    assert full.generator.count_params() == 4052478


@pytest.mark.parametrize("height, width", [(32, 32), (36, 28)])
def test_forward_shapes_finite_and_known_pixels_exact(model, height, width):
    batch = make_batch(height, width)
    model_checks.assert_composited(batch, model(batch))
    coarse, refined, flow = model.generate_stages(batch["image"], batch["mask"])
    assert coarse.shape == refined.shape == (2, height, width, 3)
    assert flow.shape == (2, -(-height // 8), -(-width // 8), 3)
    for stage in (coarse, refined, flow):
        assert 0.0 <= float(np.min(stage)) and float(np.max(stage)) <= 1.0


def test_hole_content_does_not_matter(model):
    batch = make_batch()
    other = dict(batch, image=np.where(batch["mask"] > 0, 0.123, batch["image"]).astype("float32"))
    np.testing.assert_array_equal(model(batch), model(other))


def test_summary_images(model):
    batch = make_batch()
    images = model.summary_images(batch)
    assert set(images) == {"output", "coarse", "attention_flow"}
    assert all(tuple(image.shape) == (2, 32, 32, 3) for image in images.values())
    np.testing.assert_allclose(np.asarray(images["output"]), np.asarray(model(batch)), atol=1e-6)


def test_train_step_losses_and_every_weight_moves():
    model = GatedConvInpainter(**TINY)
    model.compile()
    batch = make_batch()
    coarse, refined, _ = model.generate_stages(batch["image"], batch["mask"], training=True)
    target = batch["image"] * 2 - 1
    expected_coarse = np.mean(np.abs(target - (np.asarray(coarse) * 2 - 1)))
    expected_refined = np.mean(np.abs(target - (np.asarray(refined) * 2 - 1)))
    before = model_checks.snapshot(model.trainable_variables)
    results = {k: float(v) for k, v in model.train_step(batch).items()}
    assert set(results) == set(model.loss_terms)
    model_checks.assert_finite_losses(results)
    np.testing.assert_allclose(results["coarse_l1"], expected_coarse, rtol=1e-4)
    np.testing.assert_allclose(results["refined_l1"], expected_refined, rtol=1e-4)
    np.testing.assert_allclose(
        results["generator_loss"],
        expected_coarse + expected_refined + results["generator_adversarial"],
        rtol=1e-4,
    )
    assert results["discriminator_loss"] >= 0.0
    discriminator_paths = {v.path for v in model.discriminator.trainable_variables}
    assert discriminator_paths and len(model.generator.trainable_variables) == 2 * 42
    model_checks.assert_every_weight_moved(model.trainable_variables, before)


def test_adversarial_weight_zero_trains_the_generator_on_l1_alone():
    model = GatedConvInpainter(**TINY, adversarial_weight=0)
    model.compile()
    results = model_checks.assert_generator_trains_alone(
        model, make_batch(), ("discriminator_loss", "generator_adversarial"))
    np.testing.assert_allclose(
        results["generator_loss"], results["coarse_l1"] + results["refined_l1"], rtol=1e-6)


def test_known_l1_weight_weights_the_l1_terms_known_pixels():
    model = GatedConvInpainter(**TINY, known_l1_weight=0.25, adversarial_weight=0)
    model.compile()
    batch = make_batch()
    coarse, refined, _ = model.generate_stages(batch["image"], batch["mask"], training=True)
    target = batch["image"] * 2 - 1
    weights = batch["mask"] + 0.25 * (1 - batch["mask"])  # NumPy, [B, H, W, 1] over channels
    results = {k: float(v) for k, v in model.train_step(batch).items()}
    for name, stage in (("coarse_l1", coarse), ("refined_l1", refined)):
        expected = np.mean(weights * np.abs(target - (np.asarray(stage) * 2 - 1)))
        np.testing.assert_allclose(results[name], expected, rtol=1e-4)
    assert GatedConvInpainter.from_config(model.get_config()).known_l1_weight == 0.25


def test_config_and_keras_file_round_trip(model, tmp_path):
    config = model.get_config()
    assert config["width"] == 4 and config["reference_compatibility"] is False
    model_checks.assert_config_and_keras_file_round_trip(model, tmp_path, make_batch())


def test_fit_one_step_under_mixed_float16():
    with dtype_policy_scope("mixed_float16"):
        model = GatedConvInpainter(**TINY)
        model.compile()
        assert isinstance(model.generator_optimizer, keras.optimizers.LossScaleOptimizer)
        assert isinstance(model.discriminator_optimizer, keras.optimizers.LossScaleOptimizer)
        assert model.discriminator.get_layer("conv1").dtype_policy.name == "float32"
        model_checks.fit_one_step(model, make_batch())
        model_checks.assert_float32_finite_output(model, make_batch())


def test_guidance_channel():
    model = GatedConvInpainter(guidance_channels=1, **TINY)
    model.compile()
    assert model.generator.get_layer("conv1").kernel.shape[2] == 3 + 1 + 2
    assert model.discriminator.input_shape[-1] == 5
    batch = make_batch()
    guidance = np.zeros((2, 32, 32, 1), "float32")
    guidance[:, 10:12] = 1.0
    with pytest.raises(ValueError, match='"guidance" key'):
        model.train_step(batch)
    with pytest.raises(ValueError, match="guidance must have shape"):
        model(dict(batch, guidance=np.zeros((2, 32, 32, 2), "float32")))
    model_checks.assert_finite_losses(model.train_step(dict(batch, guidance=guidance)))
    guided = np.asarray(model(dict(batch, guidance=guidance)))
    unguided = np.asarray(model(batch))  # guidance defaults to zeros at inference
    assert np.isfinite(unguided).all() and not np.array_equal(guided, unguided)
    with pytest.raises(ValueError, match="guidance_channels=0"):
        GatedConvInpainter(**TINY)(dict(batch, guidance=guidance))


def test_reference_compatibility_switches_resizing_and_paste_normalization():
    model = GatedConvInpainter(reference_compatibility=True, **TINY)
    resizes = [layer for layer in model.generator.layers if isinstance(layer, NearestResize)]
    assert len(resizes) == 5 and all(layer.align_corners for layer in resizes)
    attention = model.generator.get_layer("contextual_attention")
    assert isinstance(attention, ContextualAttention)
    assert attention.resize_align_corners and attention.paste_normalization == "reference"
    default = GatedConvInpainter(**TINY).generator.get_layer("contextual_attention")
    assert not default.resize_align_corners and default.paste_normalization == "overlap"
    assert np.isfinite(np.asarray(model(make_batch()))).all()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"width": 6},
        {"width": 0},
        {"guidance_channels": -1},
        {"known_l1_weight": -0.5},
        {"known_l1_weight": float("nan")},
        {"known_l1_weight": "1"},
    ],
)
def test_invalid_arguments(kwargs):
    with pytest.raises(ValueError, match="width|guidance_channels|known_l1_weight"):
        GatedConvInpainter(**{**TINY, **kwargs})
