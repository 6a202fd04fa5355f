"""Inpaint photos of any size: `inpaint(image, mask, model)`.

**Inputs.** One image or a batch, as

- a NumPy array ``[H, W, 3]`` (RGB) or ``[H, W, 4]`` (RGBA), or a batch ``[B, H, W, 3|4]``,
  dtype uint8 or float in [0, 1];
- a PIL image (any mode: RGB, RGBA, grey, palette, 16-bit grey);
- a path to an image file (EXIF orientation applied);
- a list or tuple of the above (sizes may differ).

**Masks** (white / nonzero = hole at every entry point) are given the same way: arrays
``[H, W]``, ``[H, W, 1|2|3|4]`` or batches of them, PIL images or files of any mode and bit
depth (L, LA, RGB, RGBA, palette, 1-bit, 16-bit, float). A mask is reduced to one value in
[0, 1] per pixel: 8- and 16-bit values are divided by 255 / 65535, bool and float masks are
taken as they are, other integer arrays as they are (so 0/1 label arrays work); colour masks
use the luminance ``0.299 R + 0.587 G + 0.114 B``, and an alpha channel multiplies it (a
transparent pixel is known). A pixel is a hole where that value exceeds `mask_threshold`,
**0 by default: any nonzero pixel is a hole**. Masks saved as JPEG carry compression noise;
pass ``mask_threshold=0.5`` for them. Without a mask, an RGBA image's fully transparent pixels
(alpha = 0) are the hole.

**Outputs** have the size of the input and its type family: float32 in [0, 1] for float
arrays, uint8 for uint8 arrays and files, a PIL RGB image for PIL images; a batch array gives a
batch array, a list a list. Known pixels are bit-identical to the input (to its float32 values
for float input, to its 8-bit RGB values for PIL images and files; 16-bit images come back at 8
bits); hole pixels are the model's output, rounded to the nearest 8-bit level for 8-bit
outputs. An image whose mask is all zero is returned unchanged; an all-hole image gets a
finite fill and a warning (it has no known pixels to be inpainted from).

**Models.** A zoo name or alias, a preset folder or ``.keras`` file (`keras_inpaint.zoo.load`),
or an object already loaded: a `keras.Model` or any callable taking
``{"image": [B,H,W,3] float32, "mask": [B,H,W,1] 1 = hole}`` and returning the composited
``[B,H,W,3]`` (e.g. `keras_inpaint.postprocess.ClassicalInpainter`); pass a loaded model in
loops so that it is not loaded again. The default is `keras_inpaint.zoo.default_model`: the
best zoo network with trained weights that beats the classical fills on its evaluation, else
OpenCV's Navier-Stokes fill (`keras_inpaint.zoo.CLASSICAL_DEFAULT`).

**Image size.** Networks take any size (fully convolutional ones pad to their stride and crop
back; fixed-size ones resize inside). **High-resolution strategy:** when an image is more than
`HIGH_RESOLUTION_FACTOR` times the model's training resolution (``model.image_size``) in height
or width, it is not given to the network whole. The holes are dilated by
`REGION_MERGE_RADIUS` pixels and split into connected regions; for each region a crop centred
on it, `CONTEXT_FACTOR` times its bounding box and at least the model's resolution (the
aspect ratio of ``image_size``, clipped to the image), is taken, scaled down by the smallest
factor that fits it into the model's resolution, if it is larger (area interpolation; a
low-resolution pixel touching any hole pixel is a hole), inpainted (all the crop's holes
marked as holes), scaled back up (bilinear) and pasted into the region's hole pixels only.
The factor is capped so that no side of the crop becomes shorter than `MIN_SCALED_FRACTION`
of the model's: a crop clipped to a long, thin photo reaches the network thin but wider than
the model (a 300x1248 crop: 64x266 for a 128x128 model, not 31x128). The network thus sees
about its training resolution, so a 4000x3000 photo with a few small holes costs a few
model-sized calls.
Classical fills work on the whole image. The SavedModel of `keras_inpaint.export` does the
same in its graph (finding the regions on a grid of 8-pixel cells).

**Speed.** A Keras model is called eagerly until it has been given batches of one shape
`GRAPH_MODE_MIN_CALLS` times (over all `inpaint` calls with that model object: a loop, a
folder of same-sized photos, the crops of large photos); from then on that shape goes through
one `tf.function`, traced once per shape. Tracing costs several eager calls, and each traced
call is then faster (``benchmarks/eager_vs_graph.py``), so one-off calls stay eager and
repeated ones get faster.

Example:
>>> from keras_inpaint import inpaint
>>> result = inpaint("photo.png", "mask.png")  # doctest: +SKIP
>>> result.dtype, result.shape  # doctest: +SKIP
(dtype('uint8'), (300, 451, 3))
"""

import dataclasses
import math
import os
import sys
import warnings
import weakref

import cv2
import numpy as np
from PIL import Image

from keras_inpaint.arguments import is_finite_number
from keras_inpaint.masks import LUMA_WEIGHTS
from keras_inpaint.orientation import upright
from keras_inpaint.postprocess import get_postprocessor

DEFAULT_BATCH_SIZE = 8
DEFAULT_MASK_THRESHOLD = 0.0
"""Mask values above this (in [0, 1]) are holes: by default every nonzero pixel."""

HIGH_RESOLUTION_FACTOR = 2.0
"""Images larger than this times the model's ``image_size`` (either side) are filled in crops."""

CONTEXT_FACTOR = 3.0
"""Side of a crop around a hole region, in multiples of the region's bounding box."""

REGION_MERGE_RADIUS = 8
"""Holes closer than about twice this many pixels are filled in one crop."""

MIN_SCALED_FRACTION = 0.5
"""A crop is scaled down no further than this fraction of the model's side, on its shorter
side (unless the crop itself is shorter): thin crops keep enough pixels across to be filled
(a 300x1248 crop reaches a 128x128 model as 64x266, not 31x128)."""

GRAPH_MODE_MIN_CALLS = 6
"""The call with one batch shape from which a Keras model runs through a `tf.function` rather
than eagerly: about where tracing pays back for the zoo networks
(``benchmarks/eager_vs_graph.py``; see the README's benchmark tables)."""

HOLE_DISPLAY_LEVEL = 255
"""Grey level painted into the hole in `side_by_side` (white, the mask convention)."""

_EIGHT_BIT = 255.0
_SIXTEEN_BIT = 65535.0
_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")
_ALPHA_MODES = ("RGBA", "RGBa", "LA", "La", "PA")
_MASK_MODES = {"1", "L", "LA", "RGB", "RGBA", "F", *_SIXTEEN_BIT_MODES}


@dataclasses.dataclass
class _Picture:
    """One image as the pipeline carries it.

    ``pixels``: float32 [H,W,3] in [0, 1]; ``levels``: its uint8 [H,W,3] values for 8-bit
    outputs (None for float input); ``hole``: bool [H,W]; ``kind``: "float", "uint8" or "pil".
    """

    pixels: np.ndarray
    levels: np.ndarray
    hole: np.ndarray
    kind: str


def inpaint(
    image,
    mask=None,
    model=None,
    postprocess=None,
    batch_size=DEFAULT_BATCH_SIZE,
    mask_threshold=DEFAULT_MASK_THRESHOLD,
):
    """Fill the holes of `image` marked by `mask` (see the module docstring for the details).

    Args:
        image: array ``[H,W,3|4]`` / ``[B,H,W,3|4]`` (uint8 or float in [0, 1]), PIL image,
            path, or a list of them.
        mask: the holes, white / nonzero = hole, in the same structure as `image`; None to use
            the alpha channel of RGBA images (alpha = 0 is the hole).
        model: zoo name, preset folder, ``.keras`` file, or a loaded model / callable; None
            for `keras_inpaint.zoo.default_model`.
        postprocess: None, or ``"poisson"`` for Iizuka et al.'s fast marching + Poisson
            blending (`keras_inpaint.postprocess.poisson_blend`).
        batch_size: images per model call.
        mask_threshold: mask values above this (in [0, 1]) are holes.

    Returns:
        The inpainted image(s), same size and type family as `image`.

    Raises:
        ValueError: image / mask size mismatch, unreadable or missing file (named), NaN or
            out-of-range values, an empty batch, a missing mask for an image without alpha.
        FileNotFoundError: an image or mask file does not exist.

    Example:
    >>> import numpy as np
    >>> image = np.full((32, 48, 3), 0.5, np.float32)
    >>> mask = np.zeros((32, 48), bool); mask[8:16, 10:30] = True
    >>> result = inpaint(image, mask, model="telea")
    >>> result.shape, result.dtype, bool(np.all(result[~mask] == image[~mask]))
    ((32, 48, 3), dtype('float32'), True)
    """
    postprocessor = get_postprocessor(postprocess)
    if not is_finite_number(batch_size, integer=True) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, received {batch_size!r}")
    batch_size = int(batch_size)
    _check_threshold(mask_threshold)
    pictures, pack = _pictures(image, mask, mask_threshold)
    _warn_all_hole(pictures)
    model = resolve_model(model)
    fills = _fill(model, pictures, batch_size)
    results = []
    for picture, fill in zip(pictures, fills):
        if fill is not None:
            fill = postprocessor(picture.pixels, picture.hole[..., None], fill)
        results.append(_output(picture, fill))
    return pack(results)


def _warn_all_hole(pictures):
    """An all-hole image has nothing to be inpainted from: its fill is made up, so say so."""
    indices = [str(index) for index, picture in enumerate(pictures) if picture.hole.all()]
    if indices:
        warnings.warn(
            f"the mask of image {', '.join(indices)} (0-based) marks every pixel as a hole: "
            "there are no known pixels to fill from, so the result is not an inpainting of the "
            "photo (a classical fill gives mid-grey)",
            stacklevel=3,
        )


def resolve_model(model):
    """A callable model from a zoo name / path (loaded), a loaded model, or None (default)."""
    if model is None or isinstance(model, (str, os.PathLike)):
        from keras_inpaint import zoo

        return zoo.load(zoo.default_model() if model is None else model)
    if not callable(model):
        hint = ""
        if hasattr(model, "signatures"):  # tf.saved_model.load's object
            hint = (" (a loaded SavedModel is called through its signatures, "
                    "model.signatures['serving_default']; inpaint() takes the Keras model, "
                    "zoo.load(name))")
        raise ValueError(
            "model must be a zoo name, a preset folder, a .keras file or a callable model, "
            f"received {type(model).__name__}{hint}"
        )
    return model


def side_by_side(image, mask, result, mask_threshold=DEFAULT_MASK_THRESHOLD):
    """``input with the hole painted white | mask | result`` as one uint8 ``[H, 3W, 3]`` image.

    `image` and `mask` are given as to `inpaint` (one image), `result` as an array (uint8 or
    float in [0, 1]) or PIL image of the same size.

    Example:
    >>> import numpy as np
    >>> image = np.zeros((4, 5, 3), np.uint8); mask = np.eye(4, 5, dtype=bool)
    >>> side_by_side(image, mask, image).shape
    (4, 15, 3)
    """
    _check_threshold(mask_threshold)
    pictures, _ = _pictures(image, mask, mask_threshold)
    if len(pictures) != 1:
        raise ValueError(f"side_by_side takes one image, received {len(pictures)}")
    picture = pictures[0]
    levels = _levels(picture)
    hole = picture.hole[..., None]
    shown = np.where(hole, np.uint8(HOLE_DISPLAY_LEVEL), levels)
    mask_panel = np.repeat(hole.astype(np.uint8) * np.uint8(HOLE_DISPLAY_LEVEL), 3, axis=-1)
    result_panel = _levels(_single(result, None, mask_threshold, require_mask=False))
    if result_panel.shape != levels.shape:
        raise ValueError(
            f"result must have the image's shape {levels.shape}, received {result_panel.shape}"
        )
    return np.concatenate([shown, mask_panel, result_panel], axis=1)


# ---- reading inputs --------------------------------------------------------------------------


def _check_threshold(threshold):
    if not is_finite_number(threshold) or not 0 <= threshold < 1:
        raise ValueError(f"mask_threshold must be a number in [0, 1), received {threshold!r}")


def _pictures(image, mask, threshold):
    """``(pictures, pack)``: the inputs as `_Picture`s and a function rebuilding the caller's
    structure (batch array, list or single image) from the per-picture results."""
    if isinstance(image, np.ndarray) and image.ndim == 4:
        masks = _batch_masks(mask, len(image))
        pictures = [_single(one, one_mask, threshold) for one, one_mask in zip(image, masks)]
        return pictures, np.stack
    if isinstance(image, (list, tuple)):
        if not image:
            raise ValueError("empty batch: received an empty list of images")
        masks = _batch_masks(mask, len(image))
        return [_single(one, one_mask, threshold) for one, one_mask in zip(image, masks)], list
    return [_single(image, mask, threshold)], lambda results: results[0]


def _batch_masks(mask, count):
    if count == 0:
        raise ValueError("empty batch: received 0 images")
    if mask is None:
        return [None] * count
    if isinstance(mask, (np.ndarray, list, tuple)) and len(mask) == count and not (
        isinstance(mask, np.ndarray) and mask.ndim < 3
    ):
        return mask
    received = mask.shape if isinstance(mask, np.ndarray) else type(mask).__name__
    raise ValueError(f"a batch of {count} images needs {count} masks, received {received}")


def _single(image, mask, threshold, require_mask=True):
    """One image (array, PIL image or path) and its mask as a `_Picture`."""
    if isinstance(image, (str, os.PathLike)):
        what = f"image {os.fspath(image)!r}"
        pixels, levels, alpha_hole = _from_pil(_open(image, "image"), what)
        kind = "uint8"
    elif isinstance(image, Image.Image):
        what = "image"
        pixels, levels, alpha_hole = _from_pil(image, what)
        kind = "pil"
    elif isinstance(image, np.ndarray):
        what = "image"
        pixels, levels, alpha_hole = _from_array(image)
        kind = "float" if levels is None else "uint8"
    else:
        raise ValueError(
            "image must be a NumPy array, a PIL image, a path or a list of them, received "
            f"{type(image).__name__}"
        )
    size = pixels.shape[:2]
    if mask is not None:
        hole = _hole(mask, threshold, size)
    elif alpha_hole is not None:
        hole = alpha_hole
    elif require_mask:
        raise ValueError(
            f"{what} has no alpha channel, so a mask is needed (white / nonzero = hole)"
        )
    else:
        hole = np.zeros(size, bool)
    return _Picture(pixels, levels, hole, kind)


def _open(path, role):
    """A loaded PIL image from a file (EXIF orientation applied); errors name the file."""
    path = os.fspath(path)
    if os.path.isdir(path):
        raise IsADirectoryError(f"{role} {path!r} is a folder, not an image file")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{role} file {path!r} does not exist")
    try:
        with Image.open(path) as opened:
            opened.load()
            return upright(opened, f"{role} file {path!r}")
    except Exception as error:  # noqa: BLE001 (PIL raises many types on corrupt files)
        raise ValueError(f"cannot read {role} file {path!r}: {error}") from error


def _from_array(array):
    """``(pixels, levels, alpha_hole)`` of an ``[H, W, 3|4]`` uint8 or float array."""
    if array.ndim != 3 or array.shape[-1] not in (3, 4):
        raise ValueError(
            "image must have shape [H, W, 3] (RGB) or [H, W, 4] (RGBA), or be a batch "
            f"[B, H, W, 3|4], received shape {array.shape}"
        )
    _check_not_empty(array.shape, "image")
    if array.dtype == np.uint8:
        levels = array[..., :3].copy()
        pixels = levels.astype(np.float32) / np.float32(_EIGHT_BIT)
    elif np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all():
            raise ValueError("image contains NaN or infinite values")
        if array.min() < 0 or array.max() > 1:
            raise ValueError(
                f"float images must be in [0, 1], received values in [{array.min()}, "
                f"{array.max()}]"
            )
        levels, pixels = None, array[..., :3].astype(np.float32)
    else:
        raise ValueError(f"image must be uint8 or float in [0, 1], received dtype {array.dtype}")
    alpha_hole = array[..., 3] == 0 if array.shape[-1] == 4 else None
    return pixels, levels, alpha_hole


def _from_pil(image, what):
    """``(pixels, levels, alpha_hole)`` of a PIL image (16-bit grey is reduced to 8 bits)."""
    _check_not_empty((image.height, image.width), what)
    alpha_hole = None
    if image.mode in _SIXTEEN_BIT_MODES or image.mode == "F":
        scale = 1.0 if image.mode == "F" else _SIXTEEN_BIT
        grey = np.clip(np.asarray(image, np.float32) / np.float32(scale), 0.0, 1.0)
        levels = np.repeat(_to_levels(grey)[..., None], 3, axis=-1)
    elif image.mode in _ALPHA_MODES or "transparency" in image.info:
        rgba = np.asarray(image.convert("RGBA"))
        levels, alpha_hole = np.ascontiguousarray(rgba[..., :3]), rgba[..., 3] == 0
    else:
        levels = np.asarray(image.convert("RGB"))
    return levels.astype(np.float32) / np.float32(_EIGHT_BIT), levels, alpha_hole


def _check_not_empty(size, what):
    if 0 in tuple(size[:2]):
        raise ValueError(f"{what} is empty, received size {tuple(size[:2])}")


def _hole(mask, threshold, size):
    """Bool [H, W] hole of a mask given as array, PIL image or path, checked against `size`."""
    what = "mask"
    if isinstance(mask, (str, os.PathLike)):
        what = f"mask {os.fspath(mask)!r}"
        values = _pil_mask_values(_open(mask, "mask"))
    elif isinstance(mask, Image.Image):
        values = _pil_mask_values(mask)
    elif isinstance(mask, np.ndarray):
        values = _array_mask_values(mask)
    else:
        raise ValueError(
            f"mask must be a NumPy array, a PIL image or a path, received {type(mask).__name__}"
        )
    if values.shape[:2] != tuple(size):
        raise ValueError(
            f"{what} has size {values.shape[:2]} (height, width) but the image has size "
            f"{tuple(size)}"
        )
    return _luminance(values) > threshold


def _pil_mask_values(image):
    """A PIL mask as float32 [H, W, C] in [0, 1] (16-bit and float modes handled)."""
    if image.mode not in _MASK_MODES:
        image = image.convert("RGBA")
    if image.mode in _SIXTEEN_BIT_MODES:
        return (np.asarray(image, np.float32) / np.float32(_SIXTEEN_BIT))[..., None]
    return _array_mask_values(np.asarray(image))


def _array_mask_values(mask):
    """A mask array ([H, W] or [H, W, 1|2|3|4]) as float32 [H, W, C], scaled by bit depth."""
    values = mask[..., None] if mask.ndim == 2 else mask
    if values.ndim != 3 or values.shape[-1] not in (1, 2, 3, 4):
        raise ValueError(
            "mask must have shape [H, W] or [H, W, 1|2|3|4] (white / nonzero = hole), "
            f"received shape {mask.shape}"
        )
    if values.dtype == np.uint8:
        return values.astype(np.float32) / np.float32(_EIGHT_BIT)
    if values.dtype == np.uint16:
        return values.astype(np.float32) / np.float32(_SIXTEEN_BIT)
    if np.issubdtype(values.dtype, np.floating) and not np.isfinite(values).all():
        raise ValueError("mask contains NaN or infinite values")
    if values.dtype == bool or np.issubdtype(values.dtype, np.number):
        return values.astype(np.float32)
    raise ValueError(f"mask must be a numeric or bool array, received dtype {values.dtype}")


def _luminance(values):
    """[H, W, C] -> [H, W]: grey, grey x alpha, luma, or luma x alpha for C = 1, 2, 3, 4."""
    channels = values.shape[-1]
    colour = values[..., :3] @ LUMA_WEIGHTS if channels >= 3 else values[..., 0]
    return colour * values[..., -1] if channels in (2, 4) else colour


# ---- filling ---------------------------------------------------------------------------------


def _fill(model, pictures, batch_size):
    """Per picture: float32 [H, W, 3] with the model's fill in the hole, or None (no hole)."""
    fills = [None] * len(pictures)
    model_size = training_size(model)
    same_size = {}
    for index, picture in enumerate(pictures):
        if not picture.hole.any():
            continue
        if model_size is not None and _is_large(picture.hole.shape, model_size):
            fills[index] = _fill_in_crops(model, picture.pixels, picture.hole, model_size)
        else:
            same_size.setdefault(picture.hole.shape, []).append(index)
    for indices in same_size.values():
        for start in range(0, len(indices), batch_size):
            chunk = indices[start : start + batch_size]
            outputs = _call(
                model,
                np.stack([pictures[i].pixels for i in chunk]),
                np.stack([pictures[i].hole for i in chunk]),
            )
            for index, output in zip(chunk, outputs):
                fills[index] = output
    return fills


def training_size(model):
    """``model.image_size`` as (height, width), or None (classical fills, plain callables)."""
    size = getattr(model, "image_size", None)
    if size is None:
        return None
    return (size, size) if isinstance(size, int) else tuple(int(side) for side in size)


def _is_large(shape, model_size):
    return any(side > HIGH_RESOLUTION_FACTOR * model for side, model in zip(shape, model_size))


@dataclasses.dataclass
class _ModelCalls:
    """What `_runner` keeps per Keras model: calls per batch shape, and the traced function."""

    counts: dict = dataclasses.field(default_factory=dict)
    traced: object = None


_MODEL_CALLS = weakref.WeakKeyDictionary()
"""Per Keras model object, its `_ModelCalls` (dropped with the model)."""


def _runner(model, shape):
    """What runs `model` on a batch of `shape`: the model itself, or, for a `keras.Model`
    from its `GRAPH_MODE_MIN_CALLS`-th call with that shape on, a `tf.function` of it in
    inference mode, kept for the model's lifetime."""
    keras = sys.modules.get("keras")  # a keras.Model exists only if keras was imported
    if keras is None or not isinstance(model, keras.Model):
        return model
    calls = _MODEL_CALLS.setdefault(model, _ModelCalls())
    calls.counts[shape] = calls.counts.get(shape, 0) + 1
    if calls.counts[shape] < GRAPH_MODE_MIN_CALLS:
        return lambda batch: model(batch, training=False)
    if calls.traced is None:
        import tensorflow as tf

        weak_model = weakref.ref(model)  # the cache must not keep the model alive
        calls.traced = tf.function(
            lambda batch: weak_model()(batch, training=False), autograph=False
        )
    return calls.traced


def _call(model, images, holes):
    """The model on a batch: images float32 [N,H,W,3], holes bool [N,H,W] -> [N,H,W,3]."""
    mask = holes[..., None].astype(np.float32)
    batch = {"image": images * (np.float32(1.0) - mask), "mask": mask}
    output = np.asarray(_runner(model, images.shape)(batch), dtype=np.float32)
    if output.shape != images.shape:
        raise RuntimeError(
            f"the model returned shape {output.shape} for images of shape {images.shape}"
        )
    if not np.isfinite(output).all():
        raise RuntimeError("the model returned NaN or infinite values")
    return np.clip(output, 0.0, 1.0)


def _fill_in_crops(model, pixels, hole, model_size):
    """The high-resolution strategy (module docstring): one model call per hole region."""
    fill = pixels.copy()
    side = 2 * REGION_MERGE_RADIUS + 1
    merged = cv2.dilate(hole.astype(np.uint8), np.ones((side, side), np.uint8))
    count, labels, boxes, _ = cv2.connectedComponentsWithStats(merged, connectivity=8)
    for label in range(1, count):
        left, top, width, height = (int(value) for value in boxes[label, :4])
        rows, columns, scale = _context_window(top, left, height, width, model_size, hole.shape)
        crop, crop_hole = pixels[rows, columns], hole[rows, columns]
        region = crop_hole & (labels[rows, columns] == label)
        crop_height, crop_width = crop_hole.shape
        if scale > 1:
            small_size = (scaled_size(crop_width, scale), scaled_size(crop_height, scale))
            small = cv2.resize(crop, small_size, interpolation=cv2.INTER_AREA)
            small_hole = cv2.resize(crop_hole.astype(np.float32), small_size,
                                    interpolation=cv2.INTER_AREA) > 0
            output = _call(model, small[None], small_hole[None])[0]
            output = cv2.resize(output, (crop_width, crop_height), interpolation=cv2.INTER_LINEAR)
        else:
            output = _call(model, crop[None], crop_hole[None])[0]
        fill[rows, columns][region] = output[region]
    return fill


def _context_window(top, left, height, width, model_size, image_size):
    """Row and column slices of the crop around a box, and its down-scaling factor (>= 1).

    The crop has the model's aspect ratio, is `CONTEXT_FACTOR` times the box in both
    directions and at least the model's size, is centred on the box and moved (and clipped)
    to stay inside the image; it always contains the box. The factor is the smallest that
    fits the crop, as clipped, into the model's size (`scaled_size`), capped so that no side
    goes below `MIN_SCALED_FRACTION` of the model's.
    """
    wanted = max(
        1.0,
        CONTEXT_FACTOR * height / model_size[0],
        CONTEXT_FACTOR * width / model_size[1],
    )
    slices = []
    for start, extent, model_side, image_side in zip(
        (top, left), (height, width), model_size, image_size
    ):
        crop_side = min(image_side, math.ceil(model_side * wanted))
        first = min(max(start + extent // 2 - crop_side // 2, 0), image_side - crop_side)
        slices.append(slice(first, first + crop_side))
    sides = [(crop.stop - crop.start, side) for crop, side in zip(slices, model_size)]
    fit = max(crop_side / side for crop_side, side in sides)
    floor = min(crop_side / (MIN_SCALED_FRACTION * side) for crop_side, side in sides)
    return slices[0], slices[1], max(1.0, min(fit, floor))


def scaled_size(crop_side, scale):
    """A crop side scaled down by `scale` (rounded half to even, at least 1 pixel): the
    model's side for the side that sets the scale; more than the model's side only for the
    long side of a crop capped by `MIN_SCALED_FRACTION`."""
    return max(1, round(crop_side / scale))


# ---- outputs ---------------------------------------------------------------------------------


def _to_levels(values):
    """Float in [0, 1] -> uint8, rounded to the nearest level (ties to even)."""
    return np.clip(np.rint(values * np.float32(_EIGHT_BIT)), 0, _EIGHT_BIT).astype(np.uint8)


def _levels(picture):
    """The picture's uint8 RGB values."""
    return picture.levels if picture.levels is not None else _to_levels(picture.pixels)


def _output(picture, fill):
    """The result in the input's type family; known pixels copied from the input."""
    if picture.kind == "float":
        return picture.pixels if fill is None else np.where(
            picture.hole[..., None], fill, picture.pixels)
    levels = picture.levels.copy()
    if fill is not None:
        levels[picture.hole] = _to_levels(fill[picture.hole])  # only the hole's pixels
    return Image.fromarray(levels, "RGB") if picture.kind == "pil" else levels
