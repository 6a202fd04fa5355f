"""tf.data pipelines for training inpainting models: image folders and TFDS names.

`make_dataset(source, ...)` yields batches ``{"image": float32 [B, H, W, 3] in [0, 1],
"mask": float32 [B, H, W, 1], 1 = hole}`` from either

- a **folder** of image files, searched recursively: JPEG, PNG, BMP, TIFF, WebP and GIF (first
  frame), extensions matched in any case; grey, RGB, RGBA, palette and 16-bit files of any size
  (decoded with PIL, see `load_image`), or
- a **TFDS name** written ``"tfds:NAME"`` (``"tfds:places365_small"``,
  ``"tfds:celeb_a_hq/256"``), whose ``"image"`` feature is used.

**Determinism and resuming.** The pipeline is a function of the element index: element ``i``
of the stream (counting from 0 over all epochs, before batching) depends only on
``(seed, i)``. Epoch ``e = i // N`` (N images) visits the images in an order keyed by
``(seed, e)``; the crop, zoom and flip of element ``i`` come from stateless random ops keyed by
``(seed, i)``; its mask is ``masks.sample_mask(generator, H, W, seed, i)``. `start_index` starts
the stream at element ``i`` without decoding the elements before it, so a run resumed at step
``s`` with global batch ``b`` and ``start_index = s * b`` sees exactly the batches an
uninterrupted run would have seen. For a folder the order is an exact permutation; for TFDS
see `make_dataset` (the guarantee holds when the dataset is read in a fixed order, which
``shuffle_files=False`` gives).

**Unreadable files** (corrupt, truncated, not an image despite the extension, deleted while
training) never stop an epoch: the first failure of a file issues an
`UnreadableImageWarning` naming it and records it in `SKIPPED_FILES`; its slot in the stream
is filled by the next readable file in sorted order, so the stream keeps its length and stays
a function of ``(seed, i)`` (a skipped file does not shift later elements, which would break
exact resuming). A file that failed is not tried again until the next folder dataset is built:
each `make_dataset` call on a folder starts a fresh record, so `skipped_files_report()` at the
end of training names the files of the run's dataset only, not those of datasets built before
in the same process. A folder where no file can be read raises a ValueError, naming only its
own files, when the dataset is built.

Example:
>>> dataset = make_dataset("photos/", image_size=256, masks="free_form")  # doctest: +SKIP
>>> batch = next(iter(dataset))  # doctest: +SKIP
>>> batch["image"].shape, batch["mask"].shape  # doctest: +SKIP
(TensorShape([8, 256, 256, 3]), TensorShape([8, 256, 256, 1]))
"""

import functools
import math
import operator
import os
import threading
import warnings

import numpy as np
import tensorflow as tf
from PIL import Image

from keras_inpaint import masks as masks_lib
from keras_inpaint.arguments import is_finite_number
from keras_inpaint.masks import load_mask
from keras_inpaint.orientation import upright

__all__ = [
    "IMAGE_EXTENSIONS",
    "SKIPPED_FILES",
    "DEFAULT_SCALE_RANGE",
    "SkippedFiles",
    "UnreadableImageWarning",
    "checked_scale_range",
    "list_image_files",
    "load_image",
    "load_mask",
    "make_dataset",
    "skipped_files_report",
]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif")
"""File extensions (matched case-insensitively) that a folder source reads."""

DEFAULT_SCALE_RANGE = (1.0, 2.0)
"""`make_dataset`'s default range of the random zoom-in of the training crops."""

TFDS_PREFIX = "tfds:"
"""Prefix of a `make_dataset` source naming a TensorFlow Datasets dataset."""

_EIGHT_BIT_MAX = 255.0
_SIXTEEN_BIT_MAX = 65535.0
_GREY_MODES = ("1", "L", "LA", "La")
_ALPHA_MODES = ("RGBA", "RGBa", "LA", "La", "PA")

# Stream identifiers folded into the seed so that the epoch orders and the per-element
# augmentations draw from unrelated random streams.
_ORDER_STREAM = 1
_AUGMENT_STREAM = 2
_AUGMENT_KEYS = 3  # zoom, crop offset, flip


class UnreadableImageWarning(UserWarning):
    """An image file could not be decoded and is skipped (see `SkippedFiles`)."""


class SkippedFiles:
    """The image files a folder pipeline could not read.

    `make_dataset` records a file here the first time it fails to decode, with a
    `UnreadableImageWarning` naming it; the file is not tried again until `make_dataset` builds
    the next folder dataset, which clears the record (see the module docstring).

    Attributes:
        count: number of distinct files skipped.
        paths: their paths, in the order they failed.
        reasons: dict path -> error message.

    Example:
    >>> SKIPPED_FILES.count  # doctest: +SKIP
    2
    >>> print(skipped_files_report())  # doctest: +SKIP
    2 unreadable image files were skipped:
      photos/broken.jpg: cannot identify image file 'photos/broken.jpg'
      ...
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._reasons = {}

    @property
    def count(self):
        with self._lock:
            return len(self._reasons)

    @property
    def paths(self):
        with self._lock:
            return list(self._reasons)

    @property
    def reasons(self):
        with self._lock:
            return dict(self._reasons)

    def __contains__(self, path):
        with self._lock:
            return path in self._reasons

    def add(self, path, reason):
        """Record `path` as unreadable; warns (once per path) and returns True if it is new."""
        with self._lock:
            is_new = path not in self._reasons
            if is_new:
                self._reasons[path] = str(reason)
        if is_new:
            warnings.warn(
                f"skipping unreadable image file {path!r}: {reason}",
                UnreadableImageWarning,
                stacklevel=2,
            )
        return is_new

    def clear(self):
        """Forget every recorded file (they will be tried, and warned about, again)."""
        with self._lock:
            self._reasons.clear()

    def report(self, paths=None):
        """A summary line per skipped file (only those in `paths` when given, so that an error
        about one folder does not list another's files), or ``""`` when none was skipped."""
        reasons = self.reasons
        if paths is not None:
            reasons = {path: reasons[path] for path in paths if path in reasons}
        if not reasons:
            return ""
        plural = "file was" if len(reasons) == 1 else "files were"
        lines = [f"{len(reasons)} unreadable image {plural} skipped:"]
        lines += [f"  {path}: {reason}" for path, reason in reasons.items()]
        return "\n".join(lines)


SKIPPED_FILES = SkippedFiles()
"""The `SkippedFiles` record of the folder datasets, cleared by each folder `make_dataset`."""


def skipped_files_report():
    """Summary of the image files skipped since the last folder dataset was built (``""`` when
    none), i.e. those of that dataset.

    The trainer prints it at the end of a run.
    """
    return SKIPPED_FILES.report()


def load_image(path):
    """Read an image file as float32 ``(H, W, 3)`` RGB in [0, 1].

    Decoded with PIL, so JPEG, PNG, BMP, TIFF, WebP and GIF (first frame) all work. EXIF
    orientation is applied. 8-bit channels are divided by 255 and 16-bit grey (PIL modes
    ``I;16*``, and ``I``, which PIL uses for some 16-bit files) by 65535; float images (mode
    ``F``) are clipped to [0, 1]. PIL reads 16-bit RGB files as 8-bit RGB (their high byte).
    Grey images are repeated over the three channels. **Alpha** (RGBA, LA, palette
    transparency) is composited over white: ``rgb * alpha + 1 * (1 - alpha)``.

    Args:
        path: the image file.

    Returns:
        float32 array ``(H, W, 3)`` in [0, 1].

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file cannot be decoded (the message names it).

    Example:
    >>> image = load_image("photo.jpg")  # doctest: +SKIP
    >>> image.dtype, image.shape[-1]  # doctest: +SKIP
    (dtype('float32'), 3)
    """
    return _read_rgb(path)


def list_image_files(folder):
    """Sorted paths of the image files under `folder`, searched recursively.

    A file counts as an image when its name ends with one of `IMAGE_EXTENSIONS` in any case;
    other files are ignored.

    Raises:
        FileNotFoundError: `folder` does not exist.
        ValueError: `folder` is not a folder, or holds no image file.
    """
    folder = os.fspath(folder)
    if not os.path.exists(folder):
        raise FileNotFoundError(f"image folder {folder!r} does not exist")
    if not os.path.isdir(folder):
        raise ValueError(
            f"data source must be a folder or {TFDS_PREFIX!r} + a TFDS name, received the "
            f"file {folder!r}"
        )
    paths = sorted(
        os.path.join(root, name)
        for root, _, names in os.walk(folder)
        for name in names
        if name.lower().endswith(IMAGE_EXTENSIONS)
    )
    if not paths:
        raise ValueError(
            f"image folder {folder!r} holds no image files (searched recursively for names "
            f"ending in {', '.join(IMAGE_EXTENSIONS)}, any case)"
        )
    return paths


def make_dataset(
    source,
    image_size=256,
    batch_size=8,
    masks="free_form",
    seed=0,
    start_index=0,
    repeat=True,
    augment=True,
    split="train",
    shuffle=True,
    drop_remainder=True,
    scale_range=DEFAULT_SCALE_RANGE,
    data_dir=None,
    shuffle_buffer=1024,
):
    """A `tf.data.Dataset` of inpainting training batches ``{"image", "mask"}``.

    Each element is made from one image of `source`:

    1. **Crop and resize.** With the image ``(H, W)`` and the output ``(h, w)``, let
       ``cover = max(h / H, w / W)``, the scale at which the image just covers the output.
       With `augment`, the image is scaled by ``s = max(cover, min(cover * z, 1))`` with the
       zoom ``z ~ U(scale_range)``: a random zoom-in of up to ``scale_range[1]`` on large
       images, never enlarging an image more than needed to cover the output. The region
       ``(h / s, w / s)`` at a uniformly random position is resized to ``(h, w)`` (bilinear,
       antialiased). Without `augment`, ``s = cover`` and the region is centred. Images
       smaller than the output are thus enlarged, keeping their aspect ratio.
    2. **Flip** left-right with probability 1/2 when `augment`.
    3. **Mask** ``masks.sample_mask(generator, h, w, seed, i)`` for element index ``i``.

    Determinism: element ``i`` depends only on ``(seed, i)`` (see the module docstring).
    Folder: epoch ``e`` visits the files in an exact permutation keyed by ``(seed, e)``
    (sorted order when not `shuffle`). TFDS: the split is read with ``shuffle_files=False``
    and epoch ``e`` permutes each block of ``shuffle_buffer`` consecutive records with a
    stateless shuffle keyed by ``(seed, e, block)`` (independent of TF's global seed);
    resuming is exact as long as TFDS reads the split in the same order (same dataset version
    and files), and skipping to `start_index` reads, but does not
    decode, the skipped records of the current epoch. TFDS images are decoded with
    `tf.io.decode_image` to 3 channels: grey is repeated, alpha is dropped.

    Args:
        source: a folder path, or ``"tfds:NAME"`` (a TFDS name, config and version allowed,
            e.g. ``"tfds:celeb_a_hq/256"``).
        image_size: output side (int) or ``(height, width)``.
        batch_size: elements per batch (the global batch under `tf.distribute`).
        masks: a mask generator spec for `masks.get_mask_generator` (e.g. ``"free_form"``,
            ``"free_form+rectangle"``, ``"folder:/path"``) or a generator object
            ``gen(height, width, rng)`` returning an array of shape ``(H, W, 1)`` or ``(H, W)``
            holding 0 and 1 (1 = hole; any numeric dtype, or bool). Other shapes or values
            (e.g. 0/255) are a ValueError, for the first element when the dataset is built.
        seed: integer seed of the image order, the augmentations and the masks.
        start_index: index of the first element (``step * batch_size`` to resume at `step`).
        repeat: True for an endless stream of epochs; False for one pass over the data from
            `start_index`, which must then leave at least one image (with `drop_remainder`, at
            least `batch_size` images, or the dataset would be empty).
        augment: random zoom, crop position and flip (False: centre crop, no flip).
        split: TFDS split (e.g. ``"train"``, ``"validation[:10%]"``); ignored for folders.
        shuffle: visit images in a seeded random order per epoch (False: a fixed order).
        drop_remainder: drop a final partial batch (only `repeat=False` streams end); True
            also gives the batch a static size, which `tf.distribute` and XLA need.
        scale_range: ``(low, high)`` range of the zoom ``z`` above, ``1 <= low <= high``.
        data_dir: TFDS data folder (None: TFDS's default); ignored for folders.
        shuffle_buffer: TFDS shuffle block size in examples; ignored for folders.

    Images are decoded (PIL) and masks drawn (NumPy) in Python through `tf.numpy_function`,
    in parallel map calls. As with any tf.data pipeline that calls Python, let the iterator go
    out of scope (iterate inside a function, or ``del`` it) before the interpreter exits: an
    iterator still alive at exit, with calls in flight, can hang or abort the process while
    Python shuts down (tensorflow/tensorflow#21277).

    Returns:
        A `tf.data.Dataset` of dicts ``{"image": float32 [B, h, w, 3] in [0, 1], "mask":
        float32 [B, h, w, 1] in {0, 1}, 1 = hole}``.

    Raises:
        ValueError: invalid arguments, an empty folder or split, or a folder where no file
            can be read.
        FileNotFoundError: `source` names a path that does not exist.

    Example:
    >>> dataset = make_dataset("tfds:celeb_a_hq/256", image_size=128)  # doctest: +SKIP
    >>> # Resuming at step 1000 gives the batches an uninterrupted run would see there:
    >>> resumed = make_dataset("photos/", batch_size=4, start_index=1000 * 4)  # doctest: +SKIP
    """
    height, width = _image_size(image_size)
    batch_size = _checked_int("batch_size", batch_size, minimum=1)
    seed = _checked_int("seed", seed, minimum=0)
    start_index = _checked_int("start_index", start_index, minimum=0)
    low, high = checked_scale_range(scale_range)
    generator = masks_lib.get_mask_generator(masks) if isinstance(masks, str) else masks
    if not callable(generator):
        raise ValueError(
            "masks must be a mask generator spec string or a callable "
            f"gen(height, width, rng), received {masks!r}"
        )
    _draw_mask(generator, height, width, seed, start_index)  # a bad generator fails here
    max_zoom = high if augment else 1.0
    # One pass (repeat=False) must fill a batch when partial batches are dropped.
    check_count = functools.partial(
        _check_count,
        start_index=start_index,
        repeat=repeat,
        full_batch=batch_size if drop_remainder else 1,
    )

    if isinstance(source, str) and source.startswith(TFDS_PREFIX):
        stream, decode = _tfds_stream(
            source[len(TFDS_PREFIX) :], split, data_dir, seed, start_index, repeat, shuffle,
            shuffle_buffer, check_count,
        )
    else:
        stream, decode = _folder_stream(
            source, (height, width), max_zoom, seed, start_index, repeat, shuffle, check_count
        )
    make_example = functools.partial(
        _make_example,
        decode=decode,
        size=(height, width),
        seed=seed,
        augment=augment,
        scale_range=(low, high),
        generator=generator,
    )
    dataset = stream.map(make_example, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
    dataset = dataset.prefetch(tf.data.AUTOTUNE)
    options = tf.data.Options()
    options.deterministic = True
    # The stream is a range of indices, not files: shard it by element across workers.
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


def _folder_stream(folder, size, max_zoom, seed, start_index, repeat, shuffle, check_count):
    """(dataset of (element index, file index), decode(file index) -> image) for a folder."""
    paths = list_image_files(folder)
    count = len(paths)
    check_count(count, f"image folder {os.fspath(folder)!r}")
    SKIPPED_FILES.clear()  # a fresh record per dataset: reports name only its files
    _first_readable(paths, folder)

    def read(file_index):
        return _read_first_readable(paths, int(file_index), size, max_zoom)

    def decode(file_index):
        image = tf.numpy_function(read, [file_index], tf.float32, stateful=False)
        image.set_shape([None, None, 3])
        return image

    def epoch_elements(epoch):
        order = tf.range(count, dtype=tf.int64)
        if shuffle:
            key = _stream_key(seed, _ORDER_STREAM, epoch)
            order = tf.random.experimental.stateless_shuffle(order, seed=key)
        return _epoch_slice(epoch, count, start_index, order)

    return _epochs(start_index, count, repeat).flat_map(epoch_elements), decode


def _tfds_stream(
    name, split, data_dir, seed, start_index, repeat, shuffle, shuffle_buffer, check_count
):
    """(dataset of (element index, encoded image), decode(encoded) -> image) for TFDS."""
    import tensorflow_datasets as tfds  # noqa: PLC0415 (heavy import, only for TFDS sources)

    builder = tfds.builder(name, data_dir=data_dir)
    features = builder.info.features
    if "image" not in features.keys() or not isinstance(features["image"], tfds.features.Image):
        raise ValueError(
            f"TFDS dataset {name!r} must have an 'image' feature of type tfds.features.Image; "
            f"its features are {sorted(features.keys())}"
        )
    _check_split(builder, name, split)  # before downloading, if the dataset is prepared
    builder.download_and_prepare()
    _check_split(builder, name, split)  # a dataset prepared just now
    examples = builder.as_dataset(
        split=split, shuffle_files=False, decoders={"image": tfds.decode.SkipDecoding()}
    )
    encoded = examples.map(operator.itemgetter("image"))
    count = int(encoded.cardinality())
    if count < 0:  # unknown: fall back on the split's metadata
        count = builder.info.splits[split].num_examples
    check_count(count, f"TFDS split {name}:{split}")

    def decode(encoded_image):
        return tf.io.decode_image(
            encoded_image, channels=3, dtype=tf.float32, expand_animations=False
        )

    def epoch_elements(epoch):
        images = encoded
        if shuffle:
            # Stateless block shuffle: each run of `shuffle_buffer` records is permuted by a key
            # of (seed, epoch, block). Unlike Dataset.shuffle it ignores TF's global seed.
            key = _stream_key(seed, _ORDER_STREAM, epoch)

            def permute(block, records):
                block_key = tf.random.experimental.stateless_fold_in(key, block)
                return tf.random.experimental.stateless_shuffle(records, seed=block_key)

            images = images.batch(shuffle_buffer).enumerate().map(permute).unbatch()
        indices = tf.data.Dataset.range(epoch * count, (epoch + 1) * count)
        return tf.data.Dataset.zip((indices, images))

    offset = start_index % count  # elements of the first epoch before start_index
    stream = _epochs(start_index, count, repeat).flat_map(epoch_elements).skip(offset)
    return stream, decode


def _check_split(builder, name, split):
    """A ValueError naming `split` if the builder's split metadata does not have it.

    TFDS knows the splits only once the dataset is prepared (`builder.info.splits` is empty
    before, and under ``tfds.testing.mock_data``); then there is nothing to check.
    """
    splits = builder.info.splits
    if not splits:
        return
    try:
        splits[split]
    except (KeyError, ValueError, TypeError) as error:
        raise ValueError(
            f"TFDS dataset {name!r} has no split {split!r}; its splits are "
            f"{sorted(splits.keys())} (slices such as 'train[:10%]' allowed): {error}"
        ) from error


def _check_count(count, what, start_index, repeat, full_batch):
    """A ValueError unless `what`, with `count` images, gives a non-empty stream from
    `start_index`: with ``repeat=False``, at least `full_batch` elements must be left."""
    if count == 0:
        raise ValueError(f"{what} holds no images")
    if repeat:
        return
    if start_index >= count:
        raise ValueError(
            f"start_index must be smaller than the {count} images of {what} when repeat=False, "
            f"received {start_index}"
        )
    if count - start_index < full_batch:
        raise ValueError(
            f"{what} holds {count} images, {count - start_index} from start_index={start_index}: "
            f"fewer than batch_size={full_batch}, so with repeat=False and drop_remainder=True "
            "the dataset would yield no batch"
        )


def _epochs(start_index, count, repeat):
    """Dataset of the epoch numbers the stream covers, from the one holding `start_index`."""
    start_epoch = start_index // count
    end_epoch = tf.int64.max if repeat else start_epoch + 1
    return tf.data.Dataset.range(start_epoch, end_epoch)


def _epoch_slice(epoch, count, start_index, order):
    """(element index, order entry) pairs of one epoch, from `start_index` on."""
    first = tf.maximum(start_index - epoch * count, 0)
    indices = tf.range(epoch * count + first, (epoch + 1) * count)
    return tf.data.Dataset.from_tensor_slices((indices, order[first:]))


def _stream_key(seed, stream, counter):
    """Stateless-RNG key [2] for one use (`stream`) and one epoch or element (`counter`)."""
    base = tf.constant([seed, stream], tf.int64)
    return tf.random.experimental.stateless_fold_in(base, counter)


def _make_example(index, payload, *, decode, size, seed, augment, scale_range, generator):
    """One training example {"image", "mask"} for element `index`."""
    height, width = size
    key = _stream_key(seed, _AUGMENT_STREAM, index)
    zoom_key, offset_key, flip_key = tf.unstack(
        tf.random.experimental.stateless_split(key, _AUGMENT_KEYS)
    )
    image = _crop_and_resize(decode(payload), size, augment, scale_range, zoom_key, offset_key)
    if augment:
        image = tf.image.stateless_random_flip_left_right(image, flip_key)
    mask = tf.numpy_function(
        functools.partial(_draw_mask, generator, height, width, seed),
        [index],
        tf.float32,
        stateful=False,
    )
    mask = tf.ensure_shape(mask, [height, width, 1])
    return {"image": image, "mask": mask}


def _draw_mask(generator, height, width, seed, index):
    """`masks.sample_mask` as float32 (height, width, 1), checked: a custom generator's wrong
    shape or values (e.g. 0/255) would otherwise fail as a bare shape error inside
    `tf.numpy_function`, or silently give masks that are not 0/1."""
    mask = np.asarray(masks_lib.sample_mask(generator, height, width, seed, index))
    if mask.shape not in ((height, width, 1), (height, width)):
        raise ValueError(
            f"masks generator {generator!r} must return shape ({height}, {width}, 1) or "
            f"({height}, {width}), received shape {mask.shape}"
        )
    if not ((mask == 0) | (mask == 1)).all():
        raise ValueError(
            f"masks generator {generator!r} must return values 0 and 1 (1 = hole) or bools, "
            f"received values {np.unique(mask)[:8].tolist()} (dtype {mask.dtype})"
        )
    return mask.astype(np.float32).reshape(height, width, 1)


def _crop_and_resize(image, size, augment, scale_range, zoom_key, offset_key):
    """The (possibly zoomed) crop of `image` resized to `size`; see `make_dataset`, step 1."""
    height, width = size
    shape = tf.cast(tf.shape(image)[:2], tf.float32)
    cover = tf.maximum(height / shape[0], width / shape[1])
    scale = cover
    if augment:
        low, high = scale_range
        zoom = tf.random.stateless_uniform([], zoom_key, minval=low, maxval=high)
        scale = tf.maximum(cover, tf.minimum(cover * zoom, 1.0))
    region = tf.constant(size, tf.float32) / scale
    region = tf.cast(tf.clip_by_value(tf.round(region), 1.0, shape), tf.int32)
    spare = tf.shape(image)[:2] - region
    if augment:
        position = tf.random.stateless_uniform([2], offset_key)
        offset = tf.cast(tf.floor(position * tf.cast(spare + 1, tf.float32)), tf.int32)
    else:
        offset = spare // 2
    crop = tf.slice(image, tf.concat([offset, [0]], 0), tf.concat([region, [3]], 0))
    return tf.image.resize(crop, size, method="bilinear", antialias=True)


def _first_readable(paths, folder):
    """Decode files in sorted order until one works, so that a folder of unreadable files
    fails when the dataset is built instead of looping at iteration time."""
    for path in paths:
        if path not in SKIPPED_FILES and _try_read(path) is not None:
            return
    raise ValueError(
        f"none of the {len(paths)} image files in {os.fspath(folder)!r} could be read; "
        f"{SKIPPED_FILES.report(paths)}"
    )


def _read_first_readable(paths, file_index, size, max_zoom):
    """The image of ``paths[file_index]``, or of the next readable path in sorted order."""
    for step in range(len(paths)):
        path = paths[(file_index + step) % len(paths)]
        if path in SKIPPED_FILES:
            continue
        image = _try_read(path, size, max_zoom)
        if image is not None:
            return image
    raise ValueError(
        f"none of the {len(paths)} image files could be read; {SKIPPED_FILES.report(paths)}"
    )


def _try_read(path, size=None, max_zoom=1.0):
    """`_read_rgb(path)`, or None after recording the failure in `SKIPPED_FILES`."""
    try:
        return _read_rgb(path, size, max_zoom)
    except (OSError, ValueError) as error:
        SKIPPED_FILES.add(path, error.__cause__ or error)
        return None


def _read_rgb(path, size=None, max_zoom=1.0):
    """Decode `path` to float32 (H, W, 3) in [0, 1] (see `load_image`).

    With `size` (the output ``(h, w)`` of the pipeline), JPEG files are decoded at a reduced
    scale (PIL's ``draft``: 1/2, 1/4 or 1/8) when that still leaves at least the resolution
    the crop can use, ``cover * max_zoom`` of the original (see `make_dataset`).
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"image file {path!r} does not exist")
    try:
        with Image.open(path) as image:
            if size is not None:
                image.draft(image.mode, _draft_size(image.size, size, max_zoom))
            image.load()
            image = upright(image, f"image file {path!r}")
            return _to_rgb(image)
    except Exception as error:  # noqa: BLE001 (PIL raises many types on corrupt files)
        raise ValueError(f"cannot read image file {path!r}: {error}") from error


def _draft_size(image_size, size, max_zoom):
    """Smallest (width, height) the decoded image needs for a crop of `size` = (h, w)."""
    image_width, image_height = image_size
    height, width = size
    cover = max(height / image_height, width / image_width)
    needed = min(1.0, cover * max_zoom)
    return math.ceil(image_width * needed), math.ceil(image_height * needed)


def _to_rgb(image):
    """A loaded PIL image as float32 (H, W, 3) in [0, 1]; alpha composited over white."""
    if image.mode.startswith("I;16") or image.mode == "I":
        grey = np.asarray(image, np.float32) / _SIXTEEN_BIT_MAX
    elif image.mode == "F":
        grey = np.asarray(image, np.float32)
    else:
        has_alpha = image.mode in _ALPHA_MODES or "transparency" in image.info
        if image.mode in _GREY_MODES:
            image = image.convert("LA" if has_alpha else "L")
        else:
            image = image.convert("RGBA" if has_alpha else "RGB")
        pixels = np.asarray(image, np.float32).reshape(image.height, image.width, -1)
        pixels /= _EIGHT_BIT_MAX
        if has_alpha:
            colour, alpha = pixels[..., :-1], pixels[..., -1:]
            pixels = colour * alpha + (1.0 - alpha)
        return np.ascontiguousarray(np.broadcast_to(pixels, pixels.shape[:2] + (3,)))
    grey = np.clip(grey, 0.0, 1.0)
    return np.repeat(grey[..., None], 3, axis=-1)


def _image_size(image_size):
    """(height, width) from an int or a pair of positive ints."""
    if is_finite_number(image_size, integer=True):
        sides = (image_size, image_size)
    elif isinstance(image_size, (tuple, list)):
        sides = tuple(image_size)
    else:
        sides = ()
    positive = all(is_finite_number(side, integer=True) and side > 0 for side in sides)
    if len(sides) != 2 or not positive:
        raise ValueError(
            f"image_size must be a positive int or (height, width), received {image_size!r}"
        )
    return int(sides[0]), int(sides[1])


def checked_scale_range(scale_range, name="scale_range"):
    """(low, high) from a pair of finite numbers with ``1 <= low <= high``; `name` is the
    argument's name in the error."""
    pair = tuple(scale_range) if isinstance(scale_range, (tuple, list)) else ()
    numbers = len(pair) == 2 and all(is_finite_number(end) for end in pair)
    if not numbers or not 1 <= pair[0] <= pair[1]:
        raise ValueError(
            f"{name} must be a pair (low, high) of finite numbers with 1 <= low <= high, "
            f"received {scale_range!r}"
        )
    return float(pair[0]), float(pair[1])


def _checked_int(name, value, minimum):
    if not is_finite_number(value, integer=True) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, received {value!r}")
    return int(value)
