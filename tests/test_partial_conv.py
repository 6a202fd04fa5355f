"""PartialConvInpainter (Liu et al. 2018's PConv U-Net)."""

import keras
import numpy as np
import pytest

from keras_inpaint.layers import PartialConv2D
from keras_inpaint.losses.perceptual import partial_conv_loss
from keras_inpaint.models.base import dtype_policy_scope
from keras_inpaint.models.partial_conv import PartialConvInpainter
import model_checks
from model_checks import quarter_holes_batch as make_batch

TINY = {"image_size": 32, "depth": 3, "width": 4}


@pytest.fixture(scope="module")
def model():
    model = PartialConvInpainter(**TINY)
    model.compile()
    return model


def test_paper_architecture():
    """Liu et al.'s table: kernels 7,5,5,3.. and 64..512 filters, 16 layers, BN but on pconv1."""
    full = PartialConvInpainter(image_size=512)
    layers = [layer for layer in full.generator.layers if isinstance(layer, PartialConv2D)]
    assert [layer.name for layer in layers] == [f"pconv{i}" for i in range(1, 17)]
    encoder, decoder = layers[:8], layers[8:]
    assert [layer.kernel_size[0] for layer in encoder] == [7, 5, 5, 3, 3, 3, 3, 3]
    assert [layer.filters for layer in encoder] == [64, 128, 256, 512, 512, 512, 512, 512]
    assert all(layer.strides == (2, 2) and not layer.multi_channel for layer in encoder)
    # Decoder inputs: upsampled features + skip features (the last also sees image and mask).
    assert [layer.kernel.shape[2] for layer in decoder] == [1024] * 4 + [768, 384, 192, 67]
    assert [layer.filters for layer in decoder] == [512, 512, 512, 512, 256, 128, 64, 3]
    assert all(layer.multi_channel and layer.kernel_size == (3, 3) for layer in decoder)
    norms = {
        layer.name
        for layer in full.generator.layers
        if isinstance(layer, keras.layers.BatchNormalization)
    }
    expected = {f"pconv{i}_bn" for i in range(2, 16)}
    assert norms == expected


@pytest.mark.parametrize("height, width", [(32, 32), (30, 21)])
def test_forward_shapes_finite_and_known_pixels_exact(model, height, width):
    batch = make_batch(height, width)
    output = np.asarray(model(batch))
    model_checks.assert_composited(batch, output)
    assert output.min() >= 0.0 and output.max() <= 1.0


def test_hole_content_does_not_matter(model):
    """Partial convolutions never read hole pixels: the output ignores what they hold."""
    batch = make_batch()
    other = dict(batch, image=np.where(batch["mask"] > 0, 0.77, batch["image"]).astype("float32"))
    np.testing.assert_array_equal(model.predict_raw(batch["image"], batch["mask"]),
                                  model.predict_raw(other["image"], other["mask"]))


def test_train_step_losses_and_every_weight_moves():
    model = PartialConvInpainter(**TINY)
    model.compile()
    batch = make_batch()
    output = np.asarray(model.predict_raw(batch["image"], batch["mask"], training=True))
    error = np.abs(output - batch["image"])
    expected_valid = np.mean((1 - batch["mask"]) * error)
    expected_hole = np.mean(batch["mask"] * error)
    before = model_checks.snapshot(model.trainable_variables)
    results = {k: float(v) for k, v in model.train_step(batch).items()}
    assert set(results) == set(model.loss_terms)
    model_checks.assert_finite_losses(results)
    np.testing.assert_allclose(results["valid"], expected_valid, rtol=1e-4)
    np.testing.assert_allclose(results["hole"], expected_hole, rtol=1e-4)
    weights = {"valid": 1.0, "hole": 6.0, "perceptual": 0.05, "style": 120.0, "tv": 0.1}
    np.testing.assert_allclose(
        results["loss"], sum(w * results[k] for k, w in weights.items()), rtol=1e-4
    )
    assert len(model.trainable_variables) == len(model.generator.trainable_variables) > 0
    assert not model.extractor.trainable_variables
    model_checks.assert_every_weight_moved(model.trainable_variables, before)


def test_without_perceptual_and_style_terms_no_vgg_is_built():
    model = PartialConvInpainter(perceptual_weight=0.0, style_weight=0, **TINY)
    model.compile()
    assert model.extractor is None
    assert not any("vgg" in weight.path for weight in model.weights)
    batch = make_batch()
    output = np.asarray(model.predict_raw(batch["image"], batch["mask"], training=True))
    results = {k: float(v) for k, v in model.train_step(batch).items()}
    assert results["perceptual"] == results["style"] == 0.0
    np.testing.assert_allclose(
        results["valid"], np.mean((1 - batch["mask"]) * np.abs(output - batch["image"])),
        rtol=1e-4)
    with pytest.raises(ValueError, match="extractor=None is only valid"):
        partial_conv_loss(batch["image"], output, batch["mask"], None, style_weight=1.0,
                          perceptual_weight=0.0)


def test_fine_tune_freezes_encoder_batch_norm_and_lowers_learning_rate():
    model = PartialConvInpainter(fine_tune=True, **TINY)
    model.compile()
    assert not model.generator.get_layer("pconv2_bn").trainable
    assert not model.generator.get_layer("pconv3_bn").trainable
    assert model.generator.get_layer("pconv4_bn").trainable  # decoder
    np.testing.assert_allclose(float(model.generator_optimizer.learning_rate), 5e-5)
    frozen = model.generator.get_layer("pconv2_bn").moving_mean.numpy().copy()
    model.train_step(make_batch())
    np.testing.assert_array_equal(model.generator.get_layer("pconv2_bn").moving_mean, frozen)
    default = PartialConvInpainter(**TINY)
    default.compile()
    np.testing.assert_allclose(float(default.generator_optimizer.learning_rate), 2e-4)


def test_config_and_keras_file_round_trip(model, tmp_path):
    config = model.get_config()
    assert config["depth"] == 3 and config["vgg_weights"] is None and config["fine_tune"] is False
    model_checks.assert_config_and_keras_file_round_trip(model, tmp_path, make_batch())


def test_fit_one_step_under_mixed_float16():
    with dtype_policy_scope("mixed_float16"):
        model = PartialConvInpainter(**TINY)
        model.compile()
        assert isinstance(model.generator_optimizer, keras.optimizers.LossScaleOptimizer)
        model_checks.fit_one_step(model, make_batch())
        model_checks.assert_float32_finite_output(model, make_batch())


@pytest.mark.parametrize("kwargs", [{"depth": 0}, {"width": 2.5}])
def test_invalid_arguments(kwargs):
    with pytest.raises(ValueError, match="depth|width"):
        PartialConvInpainter(**{**TINY, **kwargs})
