"""Tests of keras_inpaint.losses against independent NumPy implementations and known values."""

import itertools

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from keras_inpaint import losses

RNG = np.random.default_rng(0)


def _images(batch=2, height=8, width=10, channels=3):
    return (
        RNG.random((batch, height, width, channels)).astype("float32"),
        RNG.random((batch, height, width, channels)).astype("float32"),
    )


def _mask(batch=2, height=8, width=10, probability=0.4):
    return (RNG.random((batch, height, width, 1)) < probability).astype("float32")


def _np_softplus(x):
    return np.log1p(np.exp(-np.abs(x))) + np.maximum(x, 0.0)


# reconstruction -----------------------------------------------------------------------------


def test_masked_l1_l2_against_numpy():
    y_true, y_pred = _images()
    for weights in (_mask(), RNG.random((2, 8, 10, 3)).astype("float32")):
        np.testing.assert_allclose(
            losses.masked_l1(y_true, y_pred, weights),
            np.mean(weights * np.abs(y_true - y_pred)),
            rtol=1e-5,
        )
        np.testing.assert_allclose(
            losses.masked_l2(y_true, y_pred, weights),
            np.mean(weights * (y_true - y_pred) ** 2),
            rtol=1e-5,
        )
    assert float(losses.masked_l1(y_true, y_true, _mask())) == 0.0


def test_losses_are_float32_for_half_inputs():
    y_true, y_pred = (ops.cast(x, "float16") for x in _images())
    mask = ops.cast(_mask(), "float16")
    assert losses.masked_l1(y_true, y_pred, mask).dtype == "float32"
    assert losses.discounted_l1(y_true, y_pred, mask).dtype == "float32"
    assert losses.context_loss(y_true, y_pred, mask).dtype == "float32"


def test_bad_shapes_are_reported():
    y_true, y_pred = _images()
    with pytest.raises(ValueError, match=r"weights must have shape .* shape \(2, 8, 10, 2\)"):
        losses.masked_l1(y_true, y_pred, np.ones((2, 8, 10, 2), "float32"))
    with pytest.raises(ValueError, match=r"received weights shape \(2, 8, 9, 1\)"):
        losses.masked_l2(y_true, y_pred, np.ones((2, 8, 9, 1), "float32"))
    with pytest.raises(ValueError, match=r"y_true must have shape .* received shape \(8, 10, 3\)"):
        losses.masked_l1(y_true[0], y_pred[0], np.ones((8, 10, 1), "float32"))
    with pytest.raises(ValueError, match=r"same shape, received \(2, 8, 10, 3\) and \(2, 8, 10, 1"):
        losses.discounted_l1(y_true, y_pred[..., :1], _mask())
    with pytest.raises(ValueError, match=r"mask must have shape .* received shape \(2, 8, 10, 3\)"):
        losses.spatial_discount_weights(np.ones((2, 8, 10, 3)))


def _numpy_chessboard_discount(mask, gamma):
    """BFS over 8-neighbours from the known pixels; gamma**distance on holes, 0 elsewhere."""
    batch, height, width, _ = mask.shape
    weights = np.zeros(mask.shape, np.float64)
    for b in range(batch):
        hole = mask[b, ..., 0] > 0.5
        distance = np.where(hole, np.inf, 0.0)
        frontier = list(zip(*np.nonzero(~hole)))
        level = 0
        while frontier:
            level += 1
            next_frontier = []
            for y, x in frontier:
                for dy, dx in itertools.product((-1, 0, 1), repeat=2):
                    ny, nx = y + dy, x + dx
                    if 0 <= ny < height and 0 <= nx < width and distance[ny, nx] == np.inf:
                        distance[ny, nx] = level
                        next_frontier.append((ny, nx))
            frontier = next_frontier
        # No known pixel at all: the documented fallback distance max(H, W).
        distance = np.minimum(distance, max(height, width))
        weights[b, ..., 0] = np.where(hole, gamma**distance, 0.0)
    return weights


def test_spatial_discount_weights_against_bfs():
    mask = np.zeros((3, 7, 9, 1), "float32")
    mask[0, 1:6, 2:9] = 1  # touches the right border: the border is not known
    mask[1] = _mask(1, 7, 9, probability=0.7)[0]
    mask[2] = 1  # no known pixel at all
    gamma = 0.8
    expected = _numpy_chessboard_discount(mask, gamma)
    np.testing.assert_allclose(losses.spatial_discount_weights(mask, gamma), expected, rtol=1e-6)
    assert expected[0, 3, 8, 0] == pytest.approx(gamma**3)  # right border counts as hole


def test_spatial_discount_weights_in_compiled_graph():
    mask = np.zeros((2, 12, 16, 1), "float32")
    mask[:, 3:9, 4:12] = 1
    compiled = tf.function(
        lambda m: losses.spatial_discount_weights(m, 0.9),
        input_signature=[tf.TensorSpec([None, None, None, 1], tf.float32)],
        jit_compile=True,
    )
    np.testing.assert_allclose(compiled(mask), _numpy_chessboard_discount(mask, 0.9), rtol=1e-6)


def test_discounted_l1_against_numpy():
    y_true, y_pred = _images()
    mask = _mask()
    weights = _numpy_chessboard_discount(mask, 0.99)
    expected = np.sum(weights * np.abs(y_true - y_pred)) / (3 * np.sum(weights))
    np.testing.assert_allclose(losses.discounted_l1(y_true, y_pred, mask), expected, rtol=1e-5)
    no_hole = np.zeros_like(mask)
    assert float(losses.discounted_l1(y_true, y_pred, no_hole)) == 0.0


# adversarial --------------------------------------------------------------------------------


def test_gan_losses_against_numpy():
    real = RNG.normal(size=(4, 2, 2, 1)).astype("float32") * 3
    fake = RNG.normal(size=(4, 2, 2, 1)).astype("float32") * 3
    sigmoid = lambda x: 1 / (1 + np.exp(-x.astype(np.float64)))  # noqa: E731
    cases = [
        (
            losses.nonsaturating_discriminator_loss(real, fake),
            -np.mean(np.log(sigmoid(real))) - np.mean(np.log(1 - sigmoid(fake))),
        ),
        (losses.nonsaturating_generator_loss(fake), -np.mean(np.log(sigmoid(fake)))),
        (
            losses.hinge_discriminator_loss(real, fake),
            np.mean(np.maximum(0, 1 - real)) + np.mean(np.maximum(0, 1 + fake)),
        ),
        (losses.hinge_generator_loss(fake), -np.mean(fake)),
        (losses.wasserstein_critic_loss(real, fake), np.mean(fake) - np.mean(real)),
        (losses.wasserstein_generator_loss(fake), -np.mean(fake)),
    ]
    for value, expected in cases:
        np.testing.assert_allclose(value, expected, rtol=1e-5)


def test_nonsaturating_losses_are_stable_for_large_logits():
    extreme = np.array([[-200.0], [200.0]], "float32")
    np.testing.assert_allclose(
        losses.nonsaturating_discriminator_loss(extreme, extreme),
        np.mean(_np_softplus(-extreme)) + np.mean(_np_softplus(extreme)),
    )
    np.testing.assert_allclose(losses.nonsaturating_generator_loss(extreme), 100.0)


def test_masked_gradient_penalty_linear_critic():
    weights = RNG.normal(size=(1, 6, 6, 3)).astype("float32") * 0.3
    critic = lambda x: ops.sum(x * weights, axis=(1, 2, 3))  # noqa: E731  gradient = weights
    real, fake = _images(3, 6, 6)
    mask = _mask(3, 6, 6)
    norms = np.sqrt(np.sum((weights * mask) ** 2, axis=(1, 2, 3)))
    expected = 10.0 * np.mean((norms - 1.0) ** 2)
    penalty = losses.masked_gradient_penalty(critic, real, fake, mask, seed=1)
    np.testing.assert_allclose(penalty, expected, rtol=1e-5)
    unmasked = np.sqrt(np.sum(weights**2))
    np.testing.assert_allclose(
        losses.masked_gradient_penalty(critic, real, fake, None, seed=1, weight=2.0),
        2.0 * (unmasked - 1.0) ** 2,
        rtol=1e-5,
    )


def test_masked_gradient_penalty_interpolates_per_sample():
    critic = lambda x: ops.sum(x**2, axis=(1, 2, 3))  # noqa: E731  gradient = 2 x_hat
    real, fake = _images(2, 4, 4)
    mask = _mask(2, 4, 4, probability=0.6)
    alpha = np.array([0.25, 0.9], "float32")
    x_hat = alpha[:, None, None, None] * real + (1 - alpha[:, None, None, None]) * fake
    norms = np.sqrt(np.sum((2 * x_hat * mask) ** 2, axis=(1, 2, 3)))
    penalty = losses.masked_gradient_penalty(critic, real, fake, mask, alpha=alpha, weight=1.0)
    np.testing.assert_allclose(penalty, np.mean((norms - 1) ** 2), rtol=1e-5)


def test_masked_gradient_penalty_trains_the_critic():
    critic = keras.Sequential(
        [
            keras.Input((4, 4, 3)),
            keras.layers.Conv2D(2, 3, activation="tanh"),
            keras.layers.Flatten(),
            keras.layers.Dense(1),
        ]
    )
    real, fake = _images(2, 4, 4)
    kernels = [v for v in critic.trainable_variables if "kernel" in v.path]
    with tf.GradientTape() as tape:
        penalty = losses.masked_gradient_penalty(critic, real, fake, _mask(2, 4, 4), seed=0)
    # The input gradient does not depend on the last bias, but on every kernel.
    for gradient in tape.gradient(penalty, kernels):
        assert gradient is not None and np.isfinite(gradient).all() and np.abs(gradient).sum() > 0


# perceptual ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def extractor():
    return losses.VGG16FeatureExtractor(seed=3)


def _np_gram(features):
    batch, height, width, channels = features.shape
    flat = features.reshape(batch, height * width, channels).astype(np.float64)
    return np.einsum("bpc,bpd->bcd", flat, flat) / (channels * height * width)


def test_gram_matrix_against_numpy():
    features = RNG.normal(size=(2, 3, 5, 4)).astype("float32")
    np.testing.assert_allclose(losses.gram_matrix(features), _np_gram(features), rtol=1e-5)


def _np_total_variation(image, region):
    horizontal = np.abs(np.diff(image, axis=2)) * region[:, :, 1:] * region[:, :, :-1]
    vertical = np.abs(np.diff(image, axis=1)) * region[:, 1:] * region[:, :-1]
    return (horizontal.sum() + vertical.sum()) / image.size


def test_total_variation():
    assert float(losses.total_variation(np.full((2, 6, 7, 3), 0.4, "float32"))) == 0.0
    image, _ = _images(2, 6, 7)
    region = _mask(2, 6, 7, probability=0.5)
    np.testing.assert_allclose(
        losses.total_variation(image, region), _np_total_variation(image, region), rtol=1e-5
    )
    np.testing.assert_allclose(
        losses.total_variation(image), _np_total_variation(image, np.ones_like(region)), rtol=1e-5
    )


def test_vgg_extractor_shapes_frozen_and_seeded(extractor):
    features = extractor(np.zeros((1, 24, 40, 3), "float32"))
    assert [tuple(f.shape) for f in features] == [(1, 12, 20, 64), (1, 6, 10, 128), (1, 3, 5, 256)]
    assert extractor.trainable_weights == [] and not extractor.trainable
    images = RNG.random((1, 16, 16, 3)).astype("float32")
    rebuilt = losses.VGG16FeatureExtractor.from_config(extractor.get_config())
    for a, b in zip(extractor(images), rebuilt(images)):
        np.testing.assert_allclose(a, b, rtol=1e-6)
        assert float(ops.max(ops.abs(a))) > 0.0
    with pytest.raises(ValueError, match="block9_pool.*valid names: block1_conv1"):
        losses.VGG16FeatureExtractor(layer_names=("block9_pool",))


def test_vgg_extractor_dynamic_shapes(extractor):
    compiled = tf.function(
        lambda x: extractor(x)[-1], input_signature=[tf.TensorSpec([None, None, None, 3])]
    )
    assert tuple(compiled(np.zeros((2, 32, 16, 3), "float32")).shape) == (2, 4, 2, 256)


def test_partial_conv_loss_terms(extractor):
    y_true, y_pred = _images(2, 32, 32)
    mask = np.zeros((2, 32, 32, 1), "float32")
    mask[0, 8:20, 4:30] = 1
    mask[1, 16:, :10] = 1
    weights = dict(
        valid_weight=0.5, hole_weight=3.0, perceptual_weight=0.2, style_weight=50.0, tv_weight=2.0
    )
    total, terms = losses.partial_conv_loss(y_true, y_pred, mask, extractor, **weights)
    assert sorted(terms) == ["hole", "perceptual", "style", "tv", "valid"]
    weighted = sum(weights[f"{name}_weight"] * float(value) for name, value in terms.items())
    np.testing.assert_allclose(float(total), weighted, rtol=1e-5)

    composited = mask * y_pred + (1 - mask) * y_true
    error = np.abs(y_pred - y_true)
    np.testing.assert_allclose(terms["valid"], np.mean((1 - mask) * error), rtol=1e-5)
    np.testing.assert_allclose(terms["hole"], np.mean(mask * error), rtol=1e-5)
    features = [
        [ops.convert_to_numpy(f).astype(np.float64) for f in extractor(x)]
        for x in (y_pred, composited, y_true)
    ]
    perceptual = style = 0.0
    for out, comp, target in zip(*features):
        for candidate in (out, comp):
            perceptual += np.mean(np.abs(candidate - target))
            style += np.mean(np.abs(_np_gram(candidate) - _np_gram(target)))
    np.testing.assert_allclose(terms["perceptual"], perceptual, rtol=1e-4)
    np.testing.assert_allclose(terms["style"], style, rtol=1e-4)
    dilated = np.zeros_like(mask)
    for dy, dx in itertools.product((-1, 0, 1), repeat=2):
        shifted = np.roll(mask, (dy, dx), axis=(1, 2))
        if dy == 1:
            shifted[:, 0] = 0
        if dy == -1:
            shifted[:, -1] = 0
        if dx == 1:
            shifted[:, :, 0] = 0
        if dx == -1:
            shifted[:, :, -1] = 0
        dilated = np.maximum(dilated, shifted)
    np.testing.assert_allclose(terms["tv"], _np_total_variation(composited, dilated), rtol=1e-5)

    total_same, terms_same = losses.partial_conv_loss(y_true, y_true, mask, extractor)
    assert float(total_same) == pytest.approx(float(terms_same["tv"]) * 0.1, abs=1e-6)
    assert float(terms_same["style"]) == 0.0 and float(terms_same["perceptual"]) == 0.0


# context ------------------------------------------------------------------------------------


def test_context_weights_on_known_pixels_near_the_hole():
    mask = np.zeros((1, 5, 5, 1), "float32")
    mask[0, 1:3, 1:3] = 1  # a 2x2 hole
    weights = ops.convert_to_numpy(losses.context_weights(mask, window=3))[0, ..., 0]
    hole = mask[0, ..., 0]
    padded = np.pad(hole, 1)  # zero padding: outside pixels are known
    expected = np.zeros((5, 5))
    for y, x in itertools.product(range(5), range(5)):
        if hole[y, x] == 0:
            expected[y, x] = padded[y : y + 3, x : x + 3].sum() / 9
    np.testing.assert_allclose(weights, expected, rtol=1e-6)
    assert np.all(weights[hole == 1] == 0)
    assert weights[0, 0] == pytest.approx(1 / 9)  # corner known pixel touching the hole
    assert weights[1, 3] == pytest.approx(2 / 9)
    assert weights[4, 4] == 0.0  # known and away from the hole


def test_context_weights_default_window():
    mask = np.zeros((1, 9, 9, 1), "float32")
    mask[0, 4, 4] = 1
    weights = ops.convert_to_numpy(losses.context_weights(mask))[0, ..., 0]
    assert weights[1, 1] == pytest.approx(1 / 49) and weights[0, 0] == 0.0
    with pytest.raises(ValueError, match="odd integer, received 4"):
        losses.context_weights(mask, window=4)


def test_context_and_prior_losses_per_sample():
    generated, corrupted = _images(3, 6, 6)
    mask = _mask(3, 6, 6)
    weights = ops.convert_to_numpy(losses.context_weights(mask))
    expected = np.sum(weights * np.abs(generated - corrupted), axis=(1, 2, 3))
    loss = losses.context_loss(generated, corrupted, mask)
    assert tuple(loss.shape) == (3,)
    np.testing.assert_allclose(loss, expected, rtol=1e-5)

    logits = np.array([[-300.0], [0.0], [2.0]], "float32")
    expected_prior = 0.003 * np.log1p(-1 / (1 + np.exp(-logits[1:, 0].astype(np.float64))))
    prior = ops.convert_to_numpy(losses.prior_loss(logits))
    np.testing.assert_allclose(prior[1:], expected_prior, rtol=1e-5)
    assert prior[0] == pytest.approx(0.0, abs=1e-30) and np.isfinite(prior).all()
    patch = np.stack([np.full((2, 2, 1), v) for v in (0.0, 1.0)]).astype("float32")
    np.testing.assert_allclose(
        losses.prior_loss(patch, weight=1.0), -_np_softplus(np.array([0.0, 1.0])), rtol=1e-6
    )


def test_partial_conv_loss_under_mixed_precision():
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        extractor = losses.VGG16FeatureExtractor(seed=3)
    finally:
        keras.config.set_dtype_policy(previous)
    y_true, y_pred = _images(1, 16, 16)
    mask = _mask(1, 16, 16)
    assert [f.dtype for f in extractor(y_true)] == ["float16"] * 3
    total, terms = losses.partial_conv_loss(y_true, y_pred, mask, extractor)
    assert total.dtype == "float32" and np.isfinite(float(total))
    assert all(value.dtype == "float32" for value in terms.values())
