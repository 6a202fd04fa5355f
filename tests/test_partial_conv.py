"""PartialConvInpainter (Liu et al. 2018's PConv U-Net)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_inpaint.layers import PartialConv2D
from keras_inpaint.models.partial_conv import PartialConvInpainter

TINY = {"image_size": 32, "depth": 3, "width": 4}


def make_batch(height=32, width=32, batch_size=2, seed=0):
    rng = np.random.default_rng(seed)
    mask = np.zeros((batch_size, height, width, 1), "float32")
    mask[0, height // 4 : height // 2, width // 4 : width // 2] = 1.0
    mask[1, height // 2 :, width // 3 :] = 1.0
    return {"image": rng.random((batch_size, height, width, 3)).astype("float32"), "mask": mask}


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
    assert output.shape == (2, height, width, 3) and output.dtype == np.float32
    assert np.isfinite(output).all() and output.min() >= 0.0 and output.max() <= 1.0
    known = batch["mask"][..., 0] == 0
    np.testing.assert_array_equal(output[known], batch["image"][known])


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
    before = [v.numpy().copy() for v in model.trainable_variables]
    results = {k: float(v) for k, v in model.train_step(batch).items()}
    assert set(results) == set(model.loss_terms)
    assert all(np.isfinite(v) for v in results.values()), results
    np.testing.assert_allclose(results["valid"], expected_valid, rtol=1e-4)
    np.testing.assert_allclose(results["hole"], expected_hole, rtol=1e-4)
    weights = {"valid": 1.0, "hole": 6.0, "perceptual": 0.05, "style": 120.0, "tv": 0.1}
    np.testing.assert_allclose(
        results["loss"], sum(w * results[k] for k, w in weights.items()), rtol=1e-4
    )
    assert len(model.trainable_variables) == len(model.generator.trainable_variables) > 0
    assert not model.extractor.trainable_variables
    unchanged = [
        v.path for v, b in zip(model.trainable_variables, before) if np.array_equal(v.numpy(), b)
    ]
    assert not unchanged, unchanged


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
    assert PartialConvInpainter.from_config(config).get_config() == config
    model.save(tmp_path / "model.keras")
    reloaded = keras.saving.load_model(tmp_path / "model.keras")
    assert reloaded.get_config() == config
    batch = make_batch()
    np.testing.assert_allclose(reloaded(batch), model(batch), atol=1e-6)


def test_fit_one_step_under_mixed_float16():
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        model = PartialConvInpainter(**TINY)
        model.compile()
        assert isinstance(model.generator_optimizer, keras.optimizers.LossScaleOptimizer)
        dataset = tf.data.Dataset.from_tensor_slices(make_batch()).batch(2)
        history = model.fit(dataset, epochs=1, steps_per_epoch=1, verbose=0)
        assert set(model.loss_terms) <= set(history.history)
        assert all(np.isfinite(values[-1]) for values in history.history.values())
        output = model(make_batch())
        assert output.dtype == tf.float32 and np.isfinite(np.asarray(output)).all()
    finally:
        keras.config.set_dtype_policy(previous)


@pytest.mark.parametrize("kwargs", [{"depth": 0}, {"width": 2.5}])
def test_invalid_arguments(kwargs):
    with pytest.raises(ValueError, match="depth|width"):
        PartialConvInpainter(**{**TINY, **kwargs})
