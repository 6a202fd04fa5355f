"""Tests of keras_inpaint.metrics: known values, NumPy references, bins and the binned table."""

import math

import numpy as np
import pytest
import tensorflow as tf
from numpy.lib.stride_tricks import sliding_window_view

from keras_inpaint import metrics

RNG = np.random.default_rng(0)


def _images(batch=2, size=16):
    return (
        RNG.random((batch, size, size, 3)).astype("float32"),
        RNG.random((batch, size, size, 3)).astype("float32"),
    )


def _np_ssim(x, y, max_val=1.0, size=11, sigma=1.5, k1=0.01, k2=0.03):
    """Gaussian-window SSIM (Wang et al. 2004), valid windows, averaged over pixels and channels."""
    coords = np.arange(size) - (size - 1) / 2
    g = np.exp(-(coords**2) / (2 * sigma**2))
    window = np.outer(g, g) / np.outer(g, g).sum()

    def blur(image):  # [B, H, W, C] -> valid weighted window means
        patches = sliding_window_view(image, (size, size), axis=(1, 2))
        return np.einsum("bhwcij,ij->bhwc", patches, window)

    x, y = x.astype(np.float64), y.astype(np.float64)
    c1, c2 = (k1 * max_val) ** 2, (k2 * max_val) ** 2
    mu_x, mu_y = blur(x), blur(y)
    var_x, var_y = blur(x * x) - mu_x**2, blur(y * y) - mu_y**2
    cov = blur(x * y) - mu_x * mu_y
    luminance = (2 * mu_x * mu_y + c1) / (mu_x**2 + mu_y**2 + c1)
    structure = (2 * cov + c2) / (var_x + var_y + c2)
    return (luminance * structure).mean(axis=(1, 2, 3))


def test_masked_l1_l2_composite_known_values():
    y_true, y_pred = _images()
    mask = np.zeros((2, 16, 16, 1), "float32")
    mask[0, :8] = 1
    mask[1, 4:12, 4:12] = 1
    composited = np.where(mask > 0.5, y_pred, y_true)
    np.testing.assert_allclose(
        metrics.masked_l1(y_true, y_pred, mask),
        np.abs(composited - y_true).mean(axis=(1, 2, 3)),
        rtol=1e-5,
    )
    np.testing.assert_allclose(
        metrics.masked_l2(y_true, y_pred, mask, percent=True),
        100 * ((composited - y_true) ** 2).mean(axis=(1, 2, 3)),
        rtol=1e-5,
    )
    np.testing.assert_array_equal(metrics.masked_l1(y_true, y_true, mask), [0.0, 0.0])
    offset = metrics.masked_l1(y_true, y_true + 0.2, mask, percent=True)
    np.testing.assert_allclose(offset, [10.0, 5.0], rtol=1e-5)  # 1/2 and 1/4 of the image


def test_psnr_known_values():
    y_true, y_pred = _images()
    assert np.all(np.isinf(metrics.psnr(y_true, y_true)))
    np.testing.assert_allclose(metrics.psnr(y_true, y_true + 0.1), [20.0, 20.0], rtol=1e-5)
    np.testing.assert_allclose(
        metrics.psnr(y_true * 255, y_true * 255 + 25.5, max_val=255.0), [20.0, 20.0], rtol=1e-5
    )
    mse = ((y_true - y_pred) ** 2).mean(axis=(1, 2, 3))
    np.testing.assert_allclose(metrics.psnr(y_true, y_pred), 10 * np.log10(1 / mse), rtol=1e-5)
    mask = np.zeros((2, 16, 16, 1), "float32")
    mask[:, :4] = 1  # a quarter of the image off by 0.1: mse = 0.0025
    np.testing.assert_allclose(
        metrics.psnr(y_true, y_true + 0.1, mask=mask), [10 * math.log10(400)] * 2, rtol=1e-5
    )


def test_ssim_against_numpy():
    y_true, y_pred = _images()
    noisy = np.clip(y_true + 0.1 * y_pred, 0, 1)
    np.testing.assert_allclose(metrics.ssim(y_true, y_true), [1.0, 1.0], rtol=1e-5)
    np.testing.assert_allclose(metrics.ssim(y_true, noisy), _np_ssim(y_true, noisy), rtol=1e-4)
    small_true, small_pred = y_true[:, :8, :8], noisy[:, :8, :8]  # window shrinks to 8
    np.testing.assert_allclose(
        metrics.ssim(small_true, small_pred), _np_ssim(small_true, small_pred, size=8), rtol=1e-4
    )
    mask = np.zeros((2, 16, 16, 1), "float32")
    np.testing.assert_allclose(metrics.ssim(y_true, y_pred, mask=mask), [1.0, 1.0], rtol=1e-5)


def test_numpy_in_numpy_out_and_tensors_in_graph():
    y_true, y_pred = _images()
    mask = np.ones((2, 16, 16, 1), "float32")
    assert isinstance(metrics.psnr(y_true, y_pred), np.ndarray)
    assert isinstance(metrics.masked_l1(y_true, y_pred, mask), np.ndarray)

    image_spec, mask_spec = tf.TensorSpec([None, 16, 16, 3]), tf.TensorSpec([None, 16, 16, 1])

    @tf.function(input_signature=[image_spec, image_spec, mask_spec])
    def scores(a, b, m):
        return metrics.masked_l1(a, b, m), metrics.psnr(a, b, mask=m), metrics.ssim(a, b, mask=m)

    l1, psnr, ssim = scores(y_true, y_pred, mask)
    assert all(tf.is_tensor(value) and tuple(value.shape) == (2,) for value in (l1, psnr, ssim))
    np.testing.assert_allclose(psnr, metrics.psnr(y_true, y_pred), rtol=1e-5)
    np.testing.assert_allclose(ssim, metrics.ssim(y_true, y_pred), atol=1e-6)


def test_bad_inputs():
    y_true, y_pred = _images()
    with pytest.raises(ValueError, match=r"mask must have shape .* shape \(2, 16, 16, 3\)"):
        metrics.masked_l1(y_true, y_pred, y_true)
    with pytest.raises(ValueError, match="same shape"):
        metrics.psnr(y_true, y_pred[:, :8])


@pytest.mark.parametrize(
    "holes, label",
    [
        (0, "0-1%"),
        (5, "1-10%"),
        (10, "10-20%"),
        (19, "10-20%"),
        (35, "30-40%"),
        (60, "50-60%"),
        (61, "60-100%"),
    ],
)
def test_hole_ratio_bin(holes, label):
    mask = np.zeros((100, 1), "float32")
    mask[:holes] = 1
    assert metrics.hole_ratio_bin(mask.reshape(10, 10, 1)) == label
    assert metrics.hole_ratio_bin(mask.reshape(1, 10, 10, 1)) == label


def test_binned_scores_table():
    y_true, y_pred = _images(batch=3)
    mask = np.zeros((3, 16, 16, 1), "float32")
    mask[0, :4] = 1  # 25 %
    mask[1, :5] = 1  # 31 %
    mask[2, :4, :8] = 1  # 12.5 %
    scores = metrics.BinnedScores()
    scores.update(y_true[:2], y_pred[:2], mask[:2])
    scores.update(y_true[2:], y_pred[2:], mask[2:])
    rows = {row["bin"]: row for row in scores.table()}
    assert list(rows) == ["1-10%", "10-20%", "20-30%", "30-40%", "40-50%", "50-60%", "all"]
    assert [rows[b]["count"] for b in rows] == [0, 1, 1, 1, 0, 0, 3]
    assert rows["1-10%"]["psnr"] is None and rows["1-10%"]["ssim"] is None
    l1 = metrics.masked_l1(y_true, y_pred, mask, percent=True)
    psnr = metrics.psnr(y_true, y_pred, mask=mask)
    np.testing.assert_allclose(rows["20-30%"]["l1_percent"], l1[0], rtol=1e-6)
    np.testing.assert_allclose(rows["10-20%"]["psnr"], psnr[2], rtol=1e-6)
    np.testing.assert_allclose(rows["all"]["l1_percent"], l1.mean(), rtol=1e-6)
    ssim = metrics.ssim(y_true, y_pred, mask=mask)
    np.testing.assert_allclose(rows["all"]["ssim"], ssim.mean(), rtol=1e-6)
    text = scores.markdown()
    assert text.splitlines()[0].startswith("| hole ratio | images | L1 (%)")
    assert "| 30-40% | 1 |" in text and len(text.splitlines()) == 2 + 7


def test_binned_scores_count_an_exact_fill_at_the_ceiling_and_refuse_0_255_images():
    y_true, y_pred = _images(batch=2)
    mask = np.zeros((2, 16, 16, 1), "float32")
    mask[:, :4] = 1  # 25 %
    scores = metrics.BinnedScores()
    scores.update(y_true, np.stack([y_true[0], y_pred[1]]), mask)  # the first fill is exact
    row = scores.table()[-1]
    other = float(metrics.psnr(y_true[1:], y_pred[1:], mask=mask[1:])[0])
    np.testing.assert_allclose(row["psnr"], (metrics.PSNR_CEILING + other) / 2, rtol=1e-6)
    with pytest.raises(ValueError, match=r"y_true must be in \[0, 1\], received values from "
                                         r"\d+ to \d+ \(dtype uint8\)"):
        scores.update(np.rint(y_true * 255).astype("uint8"), y_pred, mask)
    assert len(scores.records) == 2


@pytest.mark.parametrize("name", ["masked_l1", "masked_l2", "psnr", "ssim"])
def test_integer_images_need_their_max_val(name):
    eight_bit = np.full((1, 16, 16, 3), 200, "uint8")
    with pytest.raises(ValueError, match="y_true must be float in \\[0, 1\\], received dtype "
                                         "uint8"):
        getattr(metrics, name)(eight_bit, eight_bit, mask=np.ones((1, 16, 16, 1)))
    if name == "psnr":
        np.testing.assert_allclose(
            metrics.psnr(eight_bit, eight_bit - 10, max_val=255),
            metrics.psnr(eight_bit / 255, (eight_bit - 10) / 255), rtol=1e-5)


def test_ssim_with_sizes_unknown_until_run_time_names_the_window():
    traced = tf.function(lambda a, b: metrics.ssim(a, b),
                         input_signature=[tf.TensorSpec([None, None, None, 3])] * 2)
    y = tf.random.uniform((1, 12, 12, 3))
    np.testing.assert_allclose(traced(y, y).numpy(), [1.0], rtol=1e-6)
    with pytest.raises(tf.errors.InvalidArgumentError, match="uses a 11x11 window: height and"):
        traced(tf.zeros((1, 5, 7, 3)), tf.zeros((1, 5, 7, 3)))
