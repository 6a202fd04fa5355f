"""Image geometry shared by the models with local critics (NHWC, batched, one mask per sample).

- `hole_centred_offsets` / `crop_at` / `crop_around_holes`: the "local" patch that Iizuka et
  al. (2017) and Yu et al. (2018) show their local discriminator, a fixed-size window centred
  on the hole of each sample and moved inside the image where the hole is near a border;
- `resolve_local_size`: a model's ``local_size`` argument (default: half the image size);
- `check_min_size`: a clear error for images smaller than a network can take;
- `pad_to_multiple`: pad height and width up to a multiple of a network's total stride (the
  models crop their outputs back);
- `mirror_to_min_size`: extend small images by mirroring up to the size a network needs;
- `run_padded_stages` / `flow_at_image_size`: run DeepFill's two-stage generators (v1 and v2)
  on images of any size, and show their attention flow at the image size.

The authors' code crops one bounding box for the whole batch (their masks were shared by the
batch); here every sample gets its own window, computed with TensorFlow ops so that it runs
inside a compiled, distributed `train_step`.
"""

import functools

import tensorflow as tf
from keras import ops

from keras_inpaint.models.base import HOLE_THRESHOLD
from keras_inpaint.models.resize import resize_nearest


def hole_centred_offsets(mask, size):
    """Top-left corners of `size` windows centred on each sample's hole, inside the image.

    For each sample, the hole's bounding box spans rows ``first .. last`` (and likewise
    columns); the window of ``s`` rows starts at ``top = floor((first + last + 1 - s) / 2)``,
    which centres it on the box (to half a pixel), clipped to ``[0, H - s]`` so that the
    window never leaves the image (a hole at a border or corner gets the window touching that
    border). A sample without a hole gets the window at the centre of the image.

    Args:
        mask: [B, H, W, 1], 1 = hole (values above 0.5).
        size: window (height, width), or an int for a square window; at most (H, W).

    Returns:
        ``(top, left)``: int32 tensors of shape [B].

    Example:
    >>> mask = np.zeros((1, 8, 8, 1), "float32"); mask[0, 0:2, 6:8] = 1  # top-right corner
    >>> [int(t[0]) for t in hole_centred_offsets(mask, 4)]
    [0, 4]
    """
    size = _window_size(size)
    mask = ops.convert_to_tensor(mask)
    if len(mask.shape) != 4 or mask.shape[-1] != 1:
        raise ValueError(
            f"mask must have shape [B, H, W, 1] (1 = hole), received shape {tuple(mask.shape)}"
        )
    _check_window_fits(mask.shape, size)
    hole = tf.cast(mask[..., 0] > HOLE_THRESHOLD, "int32")
    rows = tf.reduce_max(hole, axis=2)  # [B, H]: 1 where the row has a hole pixel
    columns = tf.reduce_max(hole, axis=1)  # [B, W]
    return _axis_offset(rows, size[0]), _axis_offset(columns, size[1])


def crop_at(images, top, left, size):
    """The ``size`` windows of `images` whose top-left corners are (`top`, `left`), per sample.

    ``crop[b, i, j] = images[b, top[b] + i, left[b] + j]``; gradients flow to `images`.

    Args:
        images: [B, H, W, C].
        top, left: integer tensors of shape [B]; every window must lie inside the image.
        size: window (height, width), or an int.

    Returns:
        [B, height, width, C], the dtype of `images`.

    Example:
    >>> images = np.arange(16.0).reshape(1, 4, 4, 1)
    >>> crop_at(images, [1], [2], 2)[0, ..., 0].numpy().tolist()
    [[6.0, 7.0], [10.0, 11.0]]
    """
    height, width = _window_size(size)
    images = ops.convert_to_tensor(images)
    rows = tf.cast(top, "int32")[:, None] + tf.range(height)[None, :]
    columns = tf.cast(left, "int32")[:, None] + tf.range(width)[None, :]
    images = tf.gather(images, rows, axis=1, batch_dims=1)
    return tf.gather(images, columns, axis=2, batch_dims=1)


def crop_around_holes(images, mask, size):
    """`crop_at` at `hole_centred_offsets(mask, size)`: each sample's window around its hole.

    Shapes: images [B, H, W, C], mask [B, H, W, 1] (1 = hole) -> [B, height, width, C].

    Example:
    >>> images, mask = np.zeros((2, 32, 32, 3)), np.zeros((2, 32, 32, 1))
    >>> crop_around_holes(images, mask, 16).shape
    TensorShape([2, 16, 16, 3])
    """
    top, left = hole_centred_offsets(mask, size)
    return crop_at(images, top, left, size)


def pad_to_multiple(images, multiple, mode="reflect"):
    """Pad height and width at the bottom and right up to the next multiple of `multiple`.

    Networks with a total stride of `multiple` (and DeepFill's contextual attention, which
    needs its downsampled features divisible by its rate) need such sizes; the models pad
    their inputs with this and crop their outputs back to ``[:, :H, :W]``.

    Args:
        images: [B, H, W, C]; H and W may be unknown until run time.
        multiple: positive int.
        mode: "reflect" (default; needs the padding smaller than the side, so sides of at
            least ``multiple // 2 + 1``), "symmetric" or "constant" (zeros).

    Returns:
        [B, ceil(H / multiple) * multiple, ceil(W / multiple) * multiple, C].

    Raises:
        ValueError: "reflect" with a height or width under ``multiple // 2 + 1`` (at run time,
            for sizes unknown until then, `tf.errors.InvalidArgumentError` with the same
            message).

    Example:
    >>> pad_to_multiple(np.zeros((1, 30, 33, 3), "float32"), 8).shape
    TensorShape([1, 32, 40, 3])
    """
    if mode == "reflect":
        smallest = multiple // 2 + 1
        images = check_min_size(
            images, smallest, f"images must be at least {smallest}x{smallest} pixels to be "
            f"reflect-padded to a multiple of {multiple}"
        )
    shape = tf.shape(images)
    paddings = [[0, 0], [0, (-shape[1]) % multiple], [0, (-shape[2]) % multiple], [0, 0]]
    return tf.pad(images, paddings, mode.upper())


def mirror_to_min_size(images, smallest):
    """Extend height and width at the bottom and right, by mirroring, up to `smallest` pixels.

    Padded again and again with its own mirror image ("symmetric" padding, which can add at
    most the current side at a time), a side of s pixels becomes periodic with period 2s: with
    ``j = i mod 2s``, row ``i`` of the result is row ``j`` of the image, or row ``2s - 1 - j``
    in the mirrored half (``j >= s``). One gather per axis builds that for any s >= 1, tiny or
    unknown until run time, in place of ``ceil(log2(smallest / s))`` paddings. Sides of at
    least `smallest` are not gathered (a `tf.cond` where the side is known at run time only).

    Args:
        images: [B, H, W, C]; H and W may be unknown until run time.
        smallest: positive int.

    Returns:
        [B, max(H, smallest), max(W, smallest), C].

    Raises:
        ValueError: an empty image (at run time, for sizes unknown until then,
            `tf.errors.InvalidArgumentError` with the same message).

    Example:
    >>> extended = mirror_to_min_size(np.arange(3.0).reshape(1, 3, 1, 1), 8)
    >>> extended.shape
    TensorShape([1, 8, 8, 1])
    >>> extended[0, :, 0, 0].numpy().tolist()
    [0.0, 1.0, 2.0, 2.0, 1.0, 0.0, 0.0, 1.0]
    """
    images = check_min_size(images, 1, "images must be at least 1x1 pixels to be mirrored")
    for axis in (1, 2):
        static = images.shape[axis]
        if static is None:  # known at run time only: gather only when it is short
            images = tf.cond(
                tf.shape(images)[axis] < smallest,
                functools.partial(_mirror_axis, images, axis, smallest),
                functools.partial(tf.identity, images),
            )
        elif static < smallest:
            images = _mirror_axis(images, axis, smallest)
    return images


def _mirror_axis(images, axis, smallest):
    """`images` extended along `axis` to `smallest` (see `mirror_to_min_size`)."""
    side = tf.shape(images)[axis]
    index = tf.range(tf.maximum(side, smallest)) % (2 * side)
    return tf.gather(images, tf.minimum(index, 2 * side - 1 - index), axis=axis)


def check_min_size(images, smallest, message):
    """`images` [B, H, W, C], checked to be at least `smallest` pixels high and wide.

    Raises ValueError ``"<message>, received shape <shape>"`` when the static shape is too
    small; for a height or width unknown until run time, the returned tensor carries an
    assertion that raises `tf.errors.InvalidArgumentError` with `message`.
    """
    static = tuple(images.shape)
    if any(side is not None and side < smallest for side in static[1:3]):
        raise ValueError(f"{message}, received shape {static}")
    if all(side is not None for side in static[1:3]):
        return images
    check = tf.debugging.assert_greater_equal(tf.shape(images)[1:3], smallest, message=message)
    with tf.control_dependencies([check]):
        return tf.identity(images)


def pad_any_size(images, multiple, min_size=None):
    """`images` [B, H, W, C] of any size (one pixel too) extended at the bottom and right to a
    size a network with total stride `multiple` takes: mirrored up to `min_size` or to the
    ``multiple // 2 + 1`` pixels that reflection needs (`mirror_to_min_size`), then
    reflect-padded to a multiple of `multiple` (`pad_to_multiple`). Crop the network's output
    back to ``[:, :H, :W]``."""
    smallest = max(min_size or 0, multiple // 2 + 1)
    return pad_to_multiple(mirror_to_min_size(images, smallest), multiple)


def run_padded_stages(generator, incomplete, mask, multiple, training=False, min_size=None):
    """Run a DeepFill generator ``[incomplete, mask] -> [coarse, refined, flow]`` at any size.

    The inputs are mirrored at the bottom and right where smaller than `min_size` or than the
    ``multiple // 2 + 1`` pixels that reflection to a multiple needs (`mirror_to_min_size`;
    image and mask alike, so a mirrored hole stays a hole and the rest is known context; so a
    side of one pixel works), then reflect-padded to a multiple of `multiple` (`pad_to_multiple`);
    the outputs are cropped back: ``coarse[:, :H, :W]``, ``refined[:, :H, :W]`` and the
    attention flow, computed at ``1 / multiple`` of the padded size, to
    ``[:, :ceil(H / multiple), :ceil(W / multiple)]``.

    Args:
        generator: a functional model with inputs ``[incomplete, mask]`` and outputs
            ``[coarse, refined, flow]`` (`ContextualInpainter`, `GatedConvInpainter`).
        incomplete: [B, H, W, C] network input (the image with its hole blanked, guidance).
        mask: [B, H, W, 1], 1 = hole.
        multiple: the generator's `size_multiple`.
        training: forwarded to the generator.
        min_size: smallest height and width the generator itself takes, or None.

    Returns:
        ``(coarse, refined, flow)``, float32: [B, H, W, 3] twice and
        [B, ceil(H / multiple), ceil(W / multiple), 3].
    """
    shape = tf.shape(incomplete)
    height, width = shape[1], shape[2]
    coarse, refined, flow = generator(
        [pad_any_size(x, multiple, min_size) for x in (incomplete, mask)], training=training
    )
    flow_height = (height + multiple - 1) // multiple
    flow_width = (width + multiple - 1) // multiple
    return (
        ops.cast(coarse[:, :height, :width], "float32"),
        ops.cast(refined[:, :height, :width], "float32"),
        ops.cast(flow[:, :flow_height, :flow_width], "float32"),
    )


def flow_at_image_size(flow, image):
    """The attention flow picture `flow` [B, h, w, 3] nearest-upsampled to the height and width
    of `image` [B, H, W, C] (`resize_nearest`)."""
    shape = tf.shape(image)
    return resize_nearest(flow, (shape[1], shape[2]))


def resolve_local_size(local_size, image_size):
    """A model's ``local_size`` argument as a (height, width) tuple that fits `image_size`.

    None gives half of `image_size` (Iizuka et al.'s and Yu et al.'s 128 x 128 window at
    256 x 256, scaled with the image size); an int gives a square window.

    Example:
    >>> resolve_local_size(None, (256, 192))
    (128, 96)
    """
    if local_size is None:
        return tuple(max(1, side // 2) for side in image_size)
    window = _window_size(local_size, name="local_size")
    if any(w > s for w, s in zip(window, image_size)):
        raise ValueError(
            f"local_size must be no larger than image_size {tuple(image_size)}, "
            f"received {local_size!r}"
        )
    return window


def _window_size(size, name="size"):
    pair = (size, size) if isinstance(size, int) else tuple(size)
    valid = all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in pair)
    if len(pair) != 2 or not valid:
        raise ValueError(f"{name} must be a positive int or (height, width), received {size!r}")
    return pair


def _check_window_fits(shape, size):
    for axis, name in ((1, "height"), (2, "width")):
        side = shape[axis]
        if side is not None and size[axis - 1] > side:
            raise ValueError(
                f"the local window {size} does not fit in images of shape {tuple(shape)}: "
                f"window {name} {size[axis - 1]} > image {name} {side}"
            )


def _axis_offset(occupied, window):
    """Start of a `window` centred on the occupied span of each row of `occupied` [B, N]."""
    length = tf.shape(occupied)[1]
    has_hole = tf.reduce_max(occupied, axis=1) > 0
    first = tf.argmax(occupied, axis=1, output_type="int32")
    last = length - 1 - tf.argmax(tf.reverse(occupied, axis=[1]), axis=1, output_type="int32")
    first = tf.where(has_hole, first, 0)
    last = tf.where(has_hole, last, length - 1)
    start = tf.math.floordiv(first + last + 1 - window, 2)
    return tf.clip_by_value(start, 0, length - window)
