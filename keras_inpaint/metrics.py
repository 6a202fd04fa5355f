"""Inpainting evaluation metrics, per image, on the composited output, and per hole-ratio bin.

Scores follow Liu et al. (2018), "Image Inpainting for Irregular Holes Using Partial
Convolutions", section 5: L1 and L2 errors, PSNR and SSIM of the **composited** image (known
pixels copied from the target, the prediction only in the hole), reported per bin of hole
ratio (`HOLE_RATIO_BINS`; the NVIDIA irregular mask test set comes in these bins).

Every function takes NHWC images in [0, 1] (``[B, H, W, C]``) and, where it has a `mask`
(``[B, H, W, 1]``, 1 = hole), composites ``where(mask > 0.5, y_pred, y_true)`` first. It
returns one float32 value per image (``[B]``): a NumPy array when no argument is a tensor, a
tensor otherwise (so the functions also work inside a compiled ``test_step``).

Example:
>>> import numpy as np
>>> image = np.zeros((2, 16, 16, 3), "float32")
>>> np.round(psnr(image, image + 0.1), 3)  # 20 dB each
array([20., 20.], dtype=float32)
"""


import keras
import numpy as np
from keras import ops

from keras_inpaint.losses.reconstruction import HOLE_THRESHOLD, check_images, check_mask
from keras_inpaint.masks import hole_ratio
from keras_inpaint.scores import score_text

HOLE_RATIO_BINS = ((0.01, 0.1), (0.1, 0.2), (0.2, 0.3), (0.3, 0.4), (0.4, 0.5), (0.5, 0.6))
"""Hole-ratio bins ``[low, high)`` (the last one closed) of Liu et al. (2018)'s tables."""

PSNR_CEILING = 100.0
"""What `BinnedScores` counts for an exact fill (whose PSNR is infinite), in dB: above the 95 dB
of a 128x128 RGB image with one value one 8-bit level off."""

SSIM_FILTER_SIZE = 11
"""Gaussian window of SSIM (Wang et al. 2004), shrunk to the image size for smaller images."""

_PERCENT = 100.0
_SCORE_NAMES = ("l1_percent", "l2_percent", "psnr", "ssim")


def masked_l1(y_true, y_pred, mask, percent=False):
    """Mean absolute error over all pixels and channels of the composited image, per image:

    ``mean_{h,w,c} |comp - y_true|`` with ``comp = where(mask, y_pred, y_true)``, i.e. the hole
    error divided by the whole image's size, as Liu et al. (2018, Table 1) report "l1 (%)".
    Times 100 with ``percent=True``.

    Example:
    >>> y = np.zeros((1, 8, 8, 3), "float32"); m = np.zeros((1, 8, 8, 1), "float32")
    >>> m[:, :4] = 1
    >>> masked_l1(y, y + 0.2, m, percent=True)  # half the image off by 0.2: 10 %
    array([10.], dtype=float32)
    """
    target, composited = _composite(y_true, y_pred, mask)
    error = ops.mean(ops.abs(composited - target), axis=(1, 2, 3))
    return _like_inputs(error * _PERCENT if percent else error, y_true, y_pred, mask)


def masked_l2(y_true, y_pred, mask, percent=False):
    """Mean squared error over all pixels and channels of the composited image, per image
    (``mean_{h,w,c} (comp - y_true)^2``; times 100 with ``percent=True``). See `masked_l1`.

    Example:
    >>> y = np.zeros((1, 8, 8, 3), "float32"); m = np.ones((1, 8, 8, 1), "float32")
    >>> masked_l2(y, y + 0.5, m)
    array([0.25], dtype=float32)
    """
    target, composited = _composite(y_true, y_pred, mask)
    error = ops.mean(ops.square(composited - target), axis=(1, 2, 3))
    return _like_inputs(error * _PERCENT if percent else error, y_true, y_pred, mask)


def psnr(y_true, y_pred, max_val=1.0, mask=None):
    """Peak signal-to-noise ratio per image: ``10 log10(max_val^2 / mean_{h,w,c}(d^2))``.

    ``d = y_pred - y_true``, or ``comp - y_true`` when a `mask` is given. Identical images
    give ``inf``. A constant offset of 0.1 on [0, 1] images gives 20 dB.

    Example:
    >>> y = np.zeros((1, 8, 8, 3), "float32")
    >>> np.round(psnr(y, y + 0.1), 3)
    array([20.], dtype=float32)
    """
    target, composited = _composite(y_true, y_pred, mask, max_val)
    mse = ops.mean(ops.square(composited - target), axis=(1, 2, 3))
    value = 10.0 * ops.log10(ops.divide(float(max_val) ** 2, mse))
    return _like_inputs(value, y_true, y_pred, mask)


def ssim(y_true, y_pred, max_val=1.0, mask=None):
    """Structural similarity per image (Wang et al. 2004) with ``tf.image.ssim``: Gaussian
    window 11 (sigma 1.5), k1 = 0.01, k2 = 0.03, averaged over channels. For images smaller
    than 11 pixels the window shrinks to the (static) image size; in a `tf.function` traced
    with unknown sizes it cannot, and smaller images are refused with that reason. With a
    `mask`, of the composited image. Identical images give 1.

    Example:
    >>> y = np.random.rand(2, 16, 16, 3).astype("float32")
    >>> ssim(y, y)
    array([1., 1.], dtype=float32)
    """
    import tensorflow as tf

    target, composited = _composite(y_true, y_pred, mask, max_val)
    static_sides = [side for side in ops.shape(target)[1:3] if isinstance(side, int)]
    filter_size = min([SSIM_FILTER_SIZE, *static_sides])
    if len(static_sides) < 2:  # the window cannot follow a side known only at run time
        large_enough = tf.debugging.assert_greater_equal(
            tf.shape(target)[1:3], filter_size,
            message=f"ssim of images whose size is unknown until run time uses a {filter_size}x"
            f"{filter_size} window: height and width must be at least {filter_size}")
        with tf.control_dependencies([large_enough]):
            target = tf.identity(target)
    value = tf.image.ssim(target, composited, max_val=float(max_val), filter_size=filter_size)
    return _like_inputs(value, y_true, y_pred, mask)


def hole_ratio_bin(mask, bins=HOLE_RATIO_BINS):
    """The label of the bin holding `mask`'s hole ratio, e.g. ``"10-20%"``.

    Bins are ``[low, high)``, the last one closed; ratios below the first bin are labelled
    ``"0-1%"`` and above the last ``"60-100%"`` (for the default bins).

    Args:
        mask: one mask, ``(H, W)``, ``(H, W, 1)`` or ``(1, H, W, 1)``, 1 = hole.
        bins: ``(low, high)`` pairs in increasing order.

    Example:
    >>> m = np.zeros((10, 10, 1)); m[:3, :5] = 1  # 15 %
    >>> hole_ratio_bin(m)
    '10-20%'
    """
    ratio = hole_ratio(np.asarray(mask))
    if np.ndim(ratio) == 1:
        if len(ratio) != 1:
            raise ValueError(f"hole_ratio_bin takes one mask, received a batch of {len(ratio)}")
        ratio = float(ratio[0])
    return _bin_label(ratio, bins)


def _bin_label(ratio, bins):
    if ratio < bins[0][0]:
        return _label(0.0, bins[0][0])
    for low, high in bins:
        if low <= ratio < high:
            return _label(low, high)
    if ratio <= bins[-1][1]:
        return _label(*bins[-1])
    return _label(bins[-1][1], 1.0)


def _label(low, high):
    return f"{low * _PERCENT:g}-{high * _PERCENT:g}%"


class BinnedScores:
    """Accumulates per-image scores by hole-ratio bin and tabulates their means.

    ``update(y_true, y_pred, mask)`` scores each image of a batch (`masked_l1` and
    `masked_l2` in %, `psnr`, `ssim`, all on the composited image) and files it under
    `hole_ratio_bin` of its mask; ``table()`` gives one row per bin, in order, with the count
    and the mean of each score (NaN for an empty bin), rows for out-of-range ratios when there
    are any, and a final ``"all"`` row. Runs eagerly (evaluation loops, benchmarks).

    Args:
        bins: ``(low, high)`` hole-ratio pairs (default `HOLE_RATIO_BINS`).

    Example:
    >>> scores = BinnedScores()
    >>> y = np.zeros((1, 16, 16, 3), "float32"); m = np.zeros((1, 16, 16, 1), "float32")
    >>> m[:, :4] = 1  # 25 %
    >>> scores.update(y, y + 0.1, m)
    >>> row = scores.table()[2]
    >>> row["bin"], row["count"], round(row["l1_percent"], 3)
    ('20-30%', 1, 2.5)
    """

    def __init__(self, bins=HOLE_RATIO_BINS):
        self.bins = tuple(tuple(pair) for pair in bins)
        self.records = []

    def update(self, y_true, y_pred, mask):
        """Score a batch ``[B, H, W, C]`` with its masks ``[B, H, W, 1]`` and file each image.

        `y_true` must be in [0, 1] (refused otherwise, with the range received). An image whose
        composite equals its target (an 8-bit fill can be exact) counts as `PSNR_CEILING` dB,
        not infinity, so that it does not make its bin's mean PSNR infinite."""
        y_true, y_pred, mask = (np.asarray(x) for x in (y_true, y_pred, mask))
        if y_true.size and not 0.0 <= y_true.min() <= y_true.max() <= 1.0:
            raise ValueError(
                f"y_true must be in [0, 1], received values from {y_true.min()} to "
                f"{y_true.max()} (dtype {y_true.dtype})"
            )
        columns = {
            "l1_percent": masked_l1(y_true, y_pred, mask, percent=True),
            "l2_percent": masked_l2(y_true, y_pred, mask, percent=True),
            "psnr": np.minimum(psnr(y_true, y_pred, mask=mask), PSNR_CEILING),
            "ssim": ssim(y_true, y_pred, mask=mask),
        }
        for index, ratio in enumerate(hole_ratio(mask)):
            scores = {name: float(values[index]) for name, values in columns.items()}
            self.records.append((_bin_label(float(ratio), self.bins), scores))

    def table(self):
        """Rows ``{"bin", "count", "l1_percent", "l2_percent", "psnr", "ssim"}``; the scores of
        a bin without pairs are ``None`` (``null`` in JSON reports, which NaN would make
        invalid JSON)."""
        labels = [_label(low, high) for low, high in self.bins]
        below, above = _label(0.0, self.bins[0][0]), _label(self.bins[-1][1], 1.0)
        present = {label for label, _ in self.records}
        ordered = [below] * (below in present) + labels + [above] * (above in present)
        rows = [
            self._row(label, [scores for name, scores in self.records if name == label])
            for label in ordered
        ]
        rows.append(self._row("all", [scores for _, scores in self.records]))
        return rows

    def markdown(self):
        """The table as Markdown (L1 and L2 in %, PSNR in dB)."""
        lines = [
            "| hole ratio | images | L1 (%) | L2 (%) | PSNR (dB) | SSIM |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for row in self.table():
            scores = " | ".join(score_text(key, row[key]) for key in _SCORE_NAMES)
            lines.append(f"| {row['bin']} | {row['count']} | {scores} |")
        return "\n".join(lines)

    @staticmethod
    def _row(label, records):
        row = {"bin": label, "count": len(records)}
        for name in _SCORE_NAMES:
            row[name] = float(np.mean([s[name] for s in records])) if records else None
        return row


def _composite(y_true, y_pred, mask, max_val=1.0):
    """float32 ``(y_true, where(mask > 0.5, y_pred, y_true))``, or ``y_pred`` without a mask.

    Integer images are refused unless `max_val` says their range (0..255 images scored as if in
    [0, 1] would give PSNRs below zero and L1 errors over 100 %)."""
    for image, name in ((y_true, "y_true"), (y_pred, "y_pred")):
        dtype = keras.backend.standardize_dtype(getattr(image, "dtype", "float32"))
        if max_val == 1.0 and "int" in dtype:
            raise ValueError(
                f"{name} must be float in [0, 1], received dtype {dtype} (divide 8-bit "
                "images by 255, or give psnr / ssim their max_val)"
            )
    y_true, y_pred = check_images(y_true, y_pred)
    if mask is None:
        return y_true, y_pred
    mask = check_mask(mask, y_true)
    return y_true, ops.where(mask > HOLE_THRESHOLD, y_pred, y_true)


def _like_inputs(value, *inputs):
    """`value` as a NumPy array when none of `inputs` is a tensor, else unchanged."""
    if any(ops.is_tensor(x) for x in inputs if x is not None):
        return value
    return ops.convert_to_numpy(value)
