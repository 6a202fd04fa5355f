"""Pixel reconstruction losses: masked L1/L2 and DeepFill v1's spatially discounted L1.

All inputs are NHWC; masks are 1 = hole, shape ``[B, H, W, 1]``. Losses are computed in
float32 and return float32 scalars. This module also holds the input checks shared by the
other loss modules and by `keras_inpaint.metrics`.
"""

from keras import ops

HOLE_THRESHOLD = 0.5
"""Mask values above this are holes where a loss needs a binary mask."""


def as_float32(x):
    """`x` as a float32 tensor."""
    return ops.cast(ops.convert_to_tensor(x), "float32")


def check_images(y_true, y_pred, names=("y_true", "y_pred")):
    """Both images as float32 tensors of rank 4 with equal static shapes, or a ValueError."""
    shapes = []
    for image, name in zip((y_true, y_pred), names):
        shape = tuple(ops.shape(image))
        if len(shape) != 4:
            raise ValueError(f"{name} must have shape [B, H, W, C], received shape {shape}")
        shapes.append(shape)
    if not _compatible(shapes[0], shapes[1]):
        raise ValueError(
            f"{names[0]} and {names[1]} must have the same shape, received {shapes[0]} and "
            f"{shapes[1]}"
        )
    return as_float32(y_true), as_float32(y_pred)


def check_mask(mask, image, name="mask", allow_channels=False):
    """`mask` as float32 ``[B, H, W, 1]`` matching `image`'s batch, height and width.

    With ``allow_channels=True`` a mask with the image's channel count is accepted too.
    """
    mask_shape, image_shape = tuple(ops.shape(mask)), tuple(ops.shape(image))
    channels_ok = len(mask_shape) == 4 and (
        _compatible(mask_shape[-1:], (1,))
        or (allow_channels and _compatible(mask_shape[-1:], image_shape[-1:]))
    )
    if not channels_ok:
        expected = "[B, H, W, 1] or [B, H, W, C]" if allow_channels else "[B, H, W, 1]"
        raise ValueError(f"{name} must have shape {expected}, received shape {mask_shape}")
    if not _compatible(mask_shape[:3], image_shape[:3]):
        raise ValueError(
            f"{name} must have the image's batch, height and width, received {name} shape "
            f"{mask_shape} and image shape {image_shape}"
        )
    return as_float32(mask)


def check_mask_rank(mask):
    """`mask` as float32 after checking it has shape ``[B, H, W, 1]``."""
    shape = tuple(ops.shape(mask))
    if len(shape) != 4 or not _compatible(shape[-1:], (1,)):
        raise ValueError(f"mask must have shape [B, H, W, 1], received shape {shape}")
    return as_float32(mask)


def _compatible(shape_a, shape_b):
    """True when two shapes agree wherever both dimensions are statically known."""
    return len(shape_a) == len(shape_b) and all(
        not (isinstance(a, int) and isinstance(b, int)) or a == b
        for a, b in zip(shape_a, shape_b)
    )


def masked_l1(y_true, y_pred, weights):
    """Weighted L1: ``mean_{b,h,w,c}(weights * |y_true - y_pred|)``.

    With ``weights`` = the hole mask this is Pathak et al. (2016) / Iizuka et al. (2017)'s
    masked reconstruction loss with L1 (Pathak et al. report L1 and L2 perform alike); with
    ``1 - mask`` it is the known-pixel loss. The mean runs over every element, so the value
    is the per-element average over the whole batch (not over the hole only).

    Args:
        y_true: target images ``[B, H, W, C]``.
        y_pred: predicted images ``[B, H, W, C]``.
        weights: ``[B, H, W, 1]`` (broadcast over channels) or ``[B, H, W, C]``.

    Returns:
        A float32 scalar.

    Example:
    >>> image = np.zeros((2, 8, 8, 3), "float32")
    >>> loss = masked_l1(image, image + 0.5, np.ones((2, 8, 8, 1), "float32"))  # 0.5
    """
    y_true, y_pred = check_images(y_true, y_pred)
    weights = check_mask(weights, y_true, name="weights", allow_channels=True)
    return ops.mean(weights * ops.abs(y_true - y_pred))


def masked_l2(y_true, y_pred, weights):
    """Weighted squared error: ``mean_{b,h,w,c}(weights * (y_true - y_pred)^2)``.

    Pathak et al. (2016) eq. 1 and Iizuka et al. (2017) eq. 1, ``||M * (x - F(x))||_2^2``,
    normalised by the number of elements. Arguments as in `masked_l1`.

    Example:
    >>> image = np.zeros((2, 8, 8, 3), "float32")
    >>> loss = masked_l2(image, image + 0.5, np.ones((2, 8, 8, 1), "float32"))  # 0.25
    """
    y_true, y_pred = check_images(y_true, y_pred)
    weights = check_mask(weights, y_true, name="weights", allow_channels=True)
    return ops.mean(weights * ops.square(y_true - y_pred))


def spatial_discount_weights(mask, gamma=0.99):
    """DeepFill v1's spatial discount: ``gamma ** l`` on hole pixels, 0 on known pixels.

    Yu et al. (2018), "Generative Image Inpainting with Contextual Attention", section 3.1:
    ``l`` is the distance of a hole pixel to the nearest known pixel. Here it is the
    **chessboard** distance ``max(|dy|, |dx|)``, so a hole pixel touching a known pixel (also
    diagonally) has ``l = 1`` and weight ``gamma``. It is computed with TF-compatible
    `keras.ops` (a `while_loop` of 3x3 max-pool dilations of the known region, one per
    distance), so it runs inside a compiled ``train_step`` on masks of any shape. Pixels
    outside the image are not known. A sample without any known pixel has no distance; its
    holes get the smallest possible weight ``gamma ** max(H, W)``. The weights carry no
    gradient.

    Args:
        mask: ``[B, H, W, 1]``, 1 = hole (values above 0.5).
        gamma: discount per pixel of distance (0.99 in the paper; the authors' released
            config used 0.9).

    Returns:
        float32 ``[B, H, W, 1]``.

    Example:
    >>> mask = np.zeros((1, 5, 5, 1), "float32"); mask[0, 1:4, 1:4] = 1
    >>> weights = spatial_discount_weights(mask, gamma=0.5)  # 0.5 on the ring, 0.25 centre
    """
    hole = ops.cast(check_mask_rank(mask) > HOLE_THRESHOLD, "float32")
    largest_distance = ops.maximum(ops.shape(hole)[1], ops.shape(hole)[2])

    def unfinished(distance, reached, weights):
        return ops.logical_and(distance <= largest_distance, ops.any(reached < 1.0))

    def grow(distance, reached, weights):
        grown = ops.max_pool(reached, pool_size=3, strides=1, padding="same")
        discount = ops.power(gamma, ops.cast(distance, "float32"))
        return distance + 1, grown, weights + (grown - reached) * discount

    _, reached, weights = ops.while_loop(
        unfinished, grow, (ops.convert_to_tensor(1), 1.0 - hole, ops.zeros_like(hole))
    )
    unreachable = (1.0 - reached) * ops.power(gamma, ops.cast(largest_distance, "float32"))
    return ops.stop_gradient(weights + unreachable)


def discounted_l1(y_true, y_pred, mask, gamma=0.99):
    """Spatially discounted L1 on the hole (Yu et al. 2018, DeepFill v1):

    ``sum(w * |y_true - y_pred|) / (C * sum(w))`` with ``w = spatial_discount_weights(mask,
    gamma)`` broadcast over the C channels, i.e. the discount-weighted mean absolute error
    over the hole pixels of the batch (the authors' code likewise normalises the discounted
    L1 by the mean of the discount mask). 0 when the batch has no hole. Add a known-pixel term
    (``masked_l1(y_true, y_pred, 1 - mask)``) separately, as the paper does.

    Args:
        y_true: target images ``[B, H, W, C]``.
        y_pred: predicted images ``[B, H, W, C]``.
        mask: ``[B, H, W, 1]``, 1 = hole.
        gamma: discount per pixel of distance from the known region.

    Returns:
        A float32 scalar.

    Example:
    >>> image = np.zeros((1, 8, 8, 3), "float32")
    >>> mask = np.zeros((1, 8, 8, 1), "float32"); mask[:, 2:6, 2:6] = 1
    >>> loss = discounted_l1(image, image + 0.5, mask)  # 0.5 (weighted mean of 0.5)
    """
    y_true, y_pred = check_images(y_true, y_pred)
    mask = check_mask(mask, y_true)
    weights = spatial_discount_weights(mask, gamma=gamma)
    return ops.divide_no_nan(ops.mean(weights * ops.abs(y_true - y_pred)), ops.mean(weights))
