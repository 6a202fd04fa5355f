"""Padding helpers shared by the convolution layers (NHWC).

`same_padding_amounts` gives the (before, after) padding that TensorFlow's "same" convolution
uses along one axis; `pad_like_same` pads height and width by those amounts in any `ops.pad`
mode, so that a following "valid" convolution has exactly the output size and alignment of a
"same" convolution but sees mirrored (or constant) borders instead of zeros.
"""

from keras import ops

PADDING_MODES = ("same", "valid", "reflect", "symmetric")
MIRROR_PADDING_MODES = ("reflect", "symmetric")


def standardize_padding(padding, allowed=PADDING_MODES):
    """Lower-cases `padding` and checks it is one of `allowed`.

    Example:
    >>> standardize_padding("REFLECT")
    'reflect'
    """
    standardized = padding.lower() if isinstance(padding, str) else padding
    if standardized not in allowed:
        raise ValueError(f"padding must be one of {allowed}, received padding={padding!r}")
    return standardized


def same_padding_amounts(size, kernel_size, stride=1, dilation_rate=1):
    """Returns the (before, after) padding of TensorFlow's "same" convolution along one axis.

    With the effective kernel extent `e = (kernel_size - 1) * dilation_rate + 1` and
    `out = ceil(size / stride)`, the total padding is `max((out - 1) * stride + e - size, 0)`,
    i.e. `max(e - stride, 0)` when `stride` divides `size` and `max(e - size % stride, 0)`
    otherwise; `before = total // 2` and `after = total - before` (the extra pixel goes last).

    Args:
        size: the axis length, a Python int (static) or a scalar integer tensor (dynamic).
        kernel_size, stride, dilation_rate: Python ints.

    Returns:
        `(before, after)`: Python ints when they do not depend on a dynamic `size` (always the
        case for `stride == 1`), scalar tensors otherwise.

    Example:
    >>> same_padding_amounts(256, kernel_size=3, stride=2)
    (0, 1)
    >>> same_padding_amounts(64, kernel_size=3, dilation_rate=4)
    (4, 4)
    """
    extent = (kernel_size - 1) * dilation_rate + 1
    if stride == 1:
        total = extent - 1
    elif isinstance(size, int):
        total = max(extent - (size % stride or stride), 0)
    else:
        remainder = size % stride
        total = ops.maximum(extent - ops.where(remainder == 0, stride, remainder), 0)
    before = total // 2
    return before, total - before


def pad_like_same(inputs, kernel_size, strides=(1, 1), dilation_rate=(1, 1), mode="reflect"):
    """Pads the height and width of NHWC `inputs` as a "same" convolution would, in `mode`.

    A "valid" convolution of the result with the same kernel size, strides and dilation has the
    output shape of the "same" convolution of `inputs` (`ceil(H / stride)` x `ceil(W / stride)`),
    with mirrored borders for `mode="reflect"` (edge pixel not repeated) or `"symmetric"` (edge
    pixel repeated) instead of zeros.

    Args:
        inputs: tensor of shape `[B, H, W, C]`; H and W may be dynamic.
        kernel_size, strides, dilation_rate: pairs of ints (height, width).
        mode: `"reflect"`, `"symmetric"` or `"constant"` (zeros).

    Returns:
        Tensor of shape `[B, H + pad_h, W + pad_w, C]`.

    Example:
    >>> x = keras.ops.ones((1, 8, 8, 3))
    >>> tuple(pad_like_same(x, (5, 5), mode="symmetric").shape)
    (1, 12, 12, 3)
    """
    if len(inputs.shape) != 4:
        raise ValueError(
            "inputs must have rank 4 (batch, height, width, channels), "
            f"received shape {tuple(inputs.shape)}"
        )
    dynamic_shape = ops.shape(inputs)
    pad_width, run_time_checks = [(0, 0)], []
    for axis, name in ((1, "height"), (2, "width")):
        static_size = inputs.shape[axis]
        size = static_size if static_size is not None else dynamic_shape[axis]
        before, after = same_padding_amounts(
            size, kernel_size[axis - 1], strides[axis - 1], dilation_rate[axis - 1]
        )
        _check_mirror_padding(mode, name, static_size, before, after, inputs.shape)
        if static_size is None and mode in MIRROR_PADDING_MODES:
            run_time_checks.append((name, size, _mirror_minimum(mode, before, after)))
        pad_width.append((before, after))
    pad_width.append((0, 0))
    if run_time_checks:
        inputs = _checked_at_run_time(inputs, run_time_checks, mode)
    return ops.pad(inputs, pad_width, mode=mode)


def padded_like_same_shape(
    shape, kernel_size, strides=(1, 1), dilation_rate=(1, 1), mode="reflect"
):
    """The static shape that `pad_like_same` gives NHWC inputs of `shape` (None stays None).

    Sides known here and too small for mirror padding raise `pad_like_same`'s ValueError.

    Example:
    >>> padded_like_same_shape((None, 8, None, 3), (5, 5), mode="symmetric")
    (None, 12, None, 3)
    """
    shape = tuple(shape)
    padded = list(shape)
    for axis, name in ((1, "height"), (2, "width")):
        size = shape[axis]
        if size is None:
            continue
        before, after = same_padding_amounts(
            size, kernel_size[axis - 1], strides[axis - 1], dilation_rate[axis - 1]
        )
        _check_mirror_padding(mode, name, size, before, after, shape)
        padded[axis] = size + before + after
    return tuple(padded)


def _mirror_minimum(mode, before, after):
    """The smallest side that mirror padding by (before, after) works on: the padding plus one
    for "reflect" (the edge is not repeated), the padding for "symmetric"."""
    static = isinstance(before, int) and isinstance(after, int)
    largest = max(before, after) if static else ops.maximum(before, after)
    return largest + 1 if mode == "reflect" else largest


def _checked_at_run_time(inputs, checks, mode):
    """`inputs` behind assertions that each ``(axis name, size, minimum)`` of `checks` holds,
    for sides unknown until run time (TensorFlow's own error would only say "paddings must be
    less than the dimension size"). XLA ignores assertions."""
    import tensorflow as tf

    assertions = [
        tf.debugging.assert_greater_equal(
            size, minimum, message=f"{mode} padding needs a {name} of at least (received, needed)"
        )
        for name, size, minimum in checks
    ]
    with tf.control_dependencies(assertions):
        return tf.identity(inputs)


def _check_mirror_padding(mode, axis_name, size, before, after, shape):
    """Mirror padding needs `pad <= size - 1` (reflect) or `pad <= size` (symmetric)."""
    if mode not in MIRROR_PADDING_MODES or size is None:
        return
    minimum_size = _mirror_minimum(mode, before, after)
    if size < minimum_size:
        raise ValueError(
            f"{mode} padding of ({before}, {after}) needs a {axis_name} of at least "
            f"{minimum_size}, received shape {tuple(shape)}"
        )
