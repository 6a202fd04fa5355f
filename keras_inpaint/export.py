"""SavedModel export for TF Serving.

`export_saved_model(model, directory, version)` writes ``directory/<version>/`` (the layout TF
Serving polls: ``--model_base_path=directory``) with two signatures:

- ``serving_default``: inputs ``image`` uint8 ``[N, H, W, 3]`` and ``mask`` uint8
  ``[N, H, W, 1]`` (nonzero = hole), N, H and W dynamic (and positive: an empty batch or
  image is refused with its shape); output ``inpainted`` uint8 ``[N, H, W, 3]`` with the known
  pixels of ``image`` unchanged;
- ``inpaint_bytes``: inputs ``image_bytes`` and ``mask_bytes``, PNG, JPEG, GIF (its first
  frame), BMP or WebP files as strings (a scalar or ``[N]``); output ``inpainted_bytes``, PNG
  files of the same shape. TF Serving's REST API returns outputs whose name ends in ``_bytes``
  base64-encoded, so it is used with ``{"b64": ...}`` strings. Files are read as
  `keras_inpaint.inference` reads them (with PIL):
  the mask by `inpaint()`'s rules at its default threshold (8- or 16-bit grey, grey + alpha,
  RGB or RGBA; the luminance times the alpha, nonzero = hole; 16-bit colour masks keep their
  16 bits, which PIL would cut to 8), a 16-bit grey photo rounded to the nearest 8-bit level,
  a 16-bit colour one cut to its top 8 bits (as PIL does), a PNG, JPEG or WebP turned upright
  by the orientation in its EXIF data (a PNG's ``eXIf`` chunk, a JPEG's APP1 segment, a WebP's
  ``EXIF`` chunk), as PIL's ``ImageOps.exif_transpose`` turns it (phones store most photos
  sideways with such a tag). PIL also takes an orientation from XMP metadata when the EXIF data
  has none, and a PNG's EXIF from a "Raw profile type exif" text chunk (ImageMagick's); the
  graph reads neither. EXIF data that PIL cannot parse is no orientation, as for `inpaint()`
  (which warns). An empty batch is refused. A string that does not start like
  one of these formats is refused with its input and index in the batch and its first bytes
  (``image_bytes[2] is not a PNG, JPEG, GIF, BMP or WebP file ...``; base64 text, the usual
  mistake, starts ``iVBORw0KGgo`` or ``/9j/``). A file cut short (a PNG without its IEND
  chunk, a JPEG without its end-of-image marker, a BMP or WebP shorter than its header says)
  is refused the same way (``image_bytes[2] is a PNG file without its IEND chunk (4096
  bytes): cut short in transfer?``), and so are BMP files TensorFlow would read otherwise than
  PIL (not 8, 24 or 32 bits per pixel; 8 bits with a colour palette); bytes after a file's end
  are ignored, as PIL ignores them. A file that still cannot be decoded (corrupt, or a GIF cut
  short) fails at the node ``image_bytes/DecodeImage`` (``DecodeJpeg`` for JPEG) or
  ``mask_bytes/...``, which the error names (the decoder's message has no index).

Everything between the uint8 / bytes inputs and outputs is in the graph: decoding, scaling to
[0, 1], the model (which pads to its stride or resizes internally), compositing and rounding to
uint8 (``round(clip(x, 0, 1) * 255)``, ties to even, as `keras_inpaint.inference`). The graph
holds no Python function ops (``tf.py_function`` cannot run in a process without the Python
code) and no XLA-must-compile functions (TF Serving cannot always compile them); no float
tensor is an output, so the REST API's JSON never meets float16.

**Large photos.** A photo up to `HIGH_RESOLUTION_FACTOR` times the model's training size
(``model.image_size``) in both height and width goes to the network whole. A larger one is
filled the way `keras_inpaint.inference` fills it, in the graph: its holes are split into
regions (holes closer than about twice `REGION_MERGE_RADIUS` pixels join; `_hole_regions`),
and each region gets a crop `CONTEXT_FACTOR` times its bounding box and at least the model's
size, scaled down to fit the model's size but no side below `MIN_SCALED_FRACTION` of the
model's (area interpolation; a pixel touching a hole is a hole), inpainted, scaled back up
(bilinear) and pasted into the region's holes. So the network never runs on much more than
its training size (a 2048x1536 photo no longer asks `gated_conv`'s contextual attention for
9 GiB), and the served result is `inpaint()`'s, pixel for pixel, except where two holes come
within a few pixels more than the merge distance of each other: the graph finds regions on a
grid of 8-pixel cells and may then join them into one crop where `inference` (OpenCV's
connected components) keeps two.

Serving it (see the README and ``examples/serving_client.py``):

    keras-inpaint export gated_conv models/gated_conv --version 1
    docker run -p 8501:8501 -v "$PWD/models/gated_conv:/models/gated_conv" \\
        -e MODEL_NAME=gated_conv tensorflow/serving
    # POST /v1/models/gated_conv:predict
    # {"signature_name": "inpaint_bytes",
    #  "instances": [{"image_bytes": {"b64": "..."}, "mask_bytes": {"b64": "..."}}]}
"""

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from keras_inpaint.inference import (
    CONTEXT_FACTOR,
    HIGH_RESOLUTION_FACTOR,
    MIN_SCALED_FRACTION,
    REGION_MERGE_RADIUS,
    training_size,
)
from keras_inpaint.masks import LUMA_WEIGHTS

GRAPH_VERSION = 11
"""What the exported graph does, for caches of exports (`keras_inpaint.zoo`'s): bumped when it
changes. 2: photos more than `HIGH_RESOLUTION_FACTOR` times the model's size are filled in
crops around their hole regions (1 ran the network on the whole photo). 3: a crop is scaled
down no further than `MIN_SCALED_FRACTION` of the model's side (thin crops of long photos).
4: `contextual_attention` mirrors inputs under 64 pixels up to 64 instead of refusing them
(the model's code is traced into the export). 5: `inpaint_bytes` reads masks of 16 bits,
with alpha or in colour and 16-bit grey photos as `inpaint()` does (4 kept a mask's top 8 bits,
ignored its alpha and cut 16-bit grey photos to 8 bits); empty inputs are refused with their
shape; the DeepFill models mirror photos under 5 pixels up to 5 instead of refusing them.
6: `inpaint_bytes` reads WebP files (5 refused them: TensorFlow decodes WebP at 8 bits only)
and refuses strings of no known format with their input and index in the batch. 7: JPEG files
are decoded with libjpeg's accurate integer DCT, as PIL decodes them (6 used TensorFlow's
default fast DCT: pixels up to 6 levels off, and JPEG masks' holes not always `inpaint()`'s);
files cut short and BMP files TensorFlow would misread are refused with their index; bytes
after a BMP's pixel rows are ignored (6 refused the file). 8: `context_encoder` and
`latent_search` resize with `keras_inpaint.models.resampling` (matrix products XLA compiles)
instead of TensorFlow's `ScaleAndTranslate` op; their outputs agree to about 1e-6. 9:
`global_local` mirrors photos under 3 pixels up to 3 (8 refused them); `inpaint_bytes` turns
JPEG photos and masks upright by their EXIF orientation, as `inpaint()` does (8 ignored it), and
refuses an empty batch. 10: `inpaint_bytes` turns PNG and WebP photos and masks upright by the
orientation in their EXIF chunk too (9 ignored it), and finds a JPEG's EXIF segment among all
the segments before its first scan, as PIL does (9 looked at the first four only). 11: the
orientation is also read where it is stored as an SBYTE, LONG, SSHORT, SLONG or IFD value,
or after the directory, and from the first entry PIL keeps (10 read SHORTs only, the largest
of several)."""

SERVING_SIGNATURE = "serving_default"
BYTES_SIGNATURE = "inpaint_bytes"
OUTPUT_KEY = "inpainted"
BYTES_OUTPUT_KEY = "inpainted_bytes"

_REGION_CELL = 8
"""Side in pixels of the grid cells on which `_hole_regions` finds connected hole regions."""

_LEVELS = 255.0
"""Largest uint8 value: the serving signatures speak 8-bit images."""

_SIXTEEN_BIT_LEVELS = 65535.0
"""Largest uint16 value: files are decoded at 16 bits, so that 16-bit masks keep their values
(8-bit files decode to 257 times theirs: the same fraction of the largest value)."""

_EIGHT_TO_SIXTEEN_BITS = 257
"""65535 / 255: an 8-bit value as the 16-bit value of the same fraction."""

_FILE_SIGNATURES = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF8", b"BM")
"""First bytes of the PNG, JPEG, GIF and BMP files that ``tf.io.decode_image`` reads."""

_WEBP_RIFF, _WEBP_FORM, _WEBP_FORM_OFFSET = b"RIFF", b"WEBP", 8
"""A WebP file: ``RIFF``, its 4-byte length less 8, then ``WEBP``."""

_PNG_END = b"\0\0\0\0IEND\xaeB`\x82"
"""A PNG file's last chunk (IEND: no data, then its CRC); TensorFlow's decoder needs it whole."""

_JPEG_SCAN_START, _JPEG_END = b"\xff\xda", b"\xff\xd9"
"""JPEG markers: start of scan, end of image (neither occurs inside entropy-coded data)."""

_BMP_BITS = (8, 24, 32)
"""Bits per pixel of the BMP files TensorFlow's decoder reads (grey, RGB, RGBA)."""

_BMP_FILE_HEADER_BYTES = 14
"""A BMP's file header, before its DIB header (which starts with its own length)."""

_GREY_PALETTE = bytes(level for value in range(256) for level in (value, value, value, 0))
"""An 8-bit BMP's palette that maps each pixel value to that grey level (blue, green, red, 0)."""

_HEADER_BYTES = 30
"""Bytes read from a file's start: BMP's header fields up to its bits per pixel (28-29)."""

_SHOWN_BYTES = 16
"""How many first bytes of an unknown file an error shows."""

_EXIF_HEADER = b"Exif\0\0"
"""The start of a JPEG's APP1 segment that holds EXIF data (a TIFF header and directories).
Some writers put it before a PNG's or WebP's TIFF header too; PIL drops it."""

_EXIF_HEADERS_DROPPED = 2
"""How many `_EXIF_HEADER`s PIL drops from the start of EXIF data (some writers repeat it)."""

_PNG_EXIF = b"eXIf"
"""The type of the PNG chunk that holds EXIF data (a TIFF header and directories)."""

_EXIF_ORIENTATION_TAG = 0x0112
"""EXIF's orientation tag."""

_EXIF_ORIENTATION_TYPES = {3: 2, 4: 4, 6: 1, 8: 2, 9: 4, 13: 4}
"""The integer TIFF field types the graph reads an orientation of, and the bytes of their
value: SHORT (EXIF's type for it), LONG, SBYTE, SSHORT, SLONG and IFD. A negative signed value,
read unsigned, is out of 1-8, as it is for PIL. PIL also turns a picture whose orientation is a
RATIONAL, SRATIONAL, FLOAT, DOUBLE or LONG8 equal to 2-8, which no camera writes: the graph
reads those as no orientation."""

_TIFF_TYPE_BYTES = (0, 1, 1, 2, 4, 8, 1, 1, 2, 4, 8, 4, 8, 4, 0, 0, 8, 0)
"""Bytes of one value of each TIFF field type (BYTE = 1 ... LONG8 = 16) that PIL reads; 0 for
the types it skips (the last stands for every type above 16)."""

_WEBP_EXIF_FLAG = 0x08
"""The bit of an extended WebP's ``VP8X`` flags that says the file has an ``EXIF`` chunk."""

_EXIF_ENTRIES_READ = 64
"""Entries of the first EXIF image directory read (cameras write a dozen or two)."""

_EXIF_PADDING_BYTES = 12 * _EXIF_ENTRIES_READ + 16
"""Zeros appended to a file before its EXIF fields are read, so no read runs past its end."""


def export_saved_model(model, directory, version=1):
    """Export an inpainting `keras.Model` as a TF Serving SavedModel in ``directory/<version>``.

    Args:
        model: a `keras.Model` called as ``model({"image": [B,H,W,3] float32 in [0, 1],
            "mask": [B,H,W,1] 1 = hole})`` returning the composited [B,H,W,3] image (every
            `keras_inpaint` model and `zoo.load` result).
        directory: the model's base folder (TF Serving's ``--model_base_path``).
        version: positive integer version; ``directory/<version>`` must not exist yet (TF
            Serving treats versions as immutable). The version folder is written under a
            temporary name and renamed, so a server polling `directory` never sees it half
            written.

    Returns:
        The version folder as a `Path`.

    Example:
    >>> from keras_inpaint import zoo
    >>> model = zoo.load("gated_conv", weights=None)  # doctest: +SKIP
    >>> export_saved_model(model, "models/gated_conv", version=1)  # doctest: +SKIP
    PosixPath('models/gated_conv/1')
    """
    import keras
    import tensorflow as tf

    if not isinstance(model, keras.Model):
        method = getattr(model, "method", None)
        if method is not None:
            raise ValueError(
                f"{method!r} is a classical OpenCV fill: there is no graph to export as a "
                "SavedModel; export a network from the zoo instead"
            )
        raise ValueError(f"model must be a keras.Model, received {type(model).__name__}")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValueError(f"version must be a positive int, received {version!r}")
    directory = Path(directory)
    target = directory / str(version)
    if target.exists():
        raise ValueError(
            f"{os.fspath(target)!r} already exists; TF Serving versions are immutable, choose "
            "another version"
        )
    directory.mkdir(parents=True, exist_ok=True)

    def inpaint_arrays(image, mask):
        # Checked first: an empty batch or image would otherwise fail deep in the model or the
        # crops with an op's error ("paddings must be less than the dimension size").
        not_empty = tf.debugging.assert_positive(
            tf.shape(image)[:3],
            message="image [N,H,W,3] must hold at least one image of at least one pixel; "
            "received N, H, W",
        )
        with tf.control_dependencies([not_empty]):
            same_size = tf.debugging.assert_equal(
                tf.shape(image)[:3],
                tf.shape(mask)[:3],
                message="image [N,H,W,3] and mask [N,H,W,1] must have the same N, H and W",
            )
        with tf.control_dependencies([same_size]):  # every op below waits for the checks
            in_hole = mask > 0
            pixels = tf.cast(image, tf.float32) / _LEVELS
        filled = _to_levels(_whole_or_in_crops(model, pixels, tf.cast(in_hole, tf.float32)))
        return {OUTPUT_KEY: tf.where(tf.broadcast_to(in_hole, tf.shape(image)), filled, image)}

    serving = tf.function(
        inpaint_arrays,
        input_signature=[
            tf.TensorSpec([None, None, None, 3], tf.uint8, name="image"),
            tf.TensorSpec([None, None, None, 1], tf.uint8, name="mask"),
        ],
        autograph=False,
        jit_compile=False,
    )
    serving.get_concrete_function()  # traced once; the bytes signature calls this function

    def inpaint_one_file(element):
        index, image_bytes, mask_bytes = element
        image = _decode_photo(image_bytes, index)
        mask = tf.cast(_decode_hole(mask_bytes, index), tf.uint8)
        output = serving(image[tf.newaxis], mask[tf.newaxis])[OUTPUT_KEY][0]
        return tf.io.encode_png(output)

    def inpaint_bytes(image_bytes, mask_bytes):
        message = "image_bytes and mask_bytes must have the same shape"
        same_rank = tf.debugging.assert_equal(tf.rank(image_bytes), tf.rank(mask_bytes),
                                              message=message)
        with tf.control_dependencies([same_rank]):
            same_shape = tf.debugging.assert_equal(tf.shape(image_bytes), tf.shape(mask_bytes),
                                                   message=message)
        not_empty = tf.debugging.Assert(
            tf.size(image_bytes) > 0,
            ["inpaint_bytes needs at least one file; received image_bytes of shape",
             tf.shape(image_bytes)])
        with tf.control_dependencies([same_shape, not_empty]):
            images, masks = tf.reshape(image_bytes, [-1]), tf.reshape(mask_bytes, [-1])
        elements = (tf.range(tf.size(images)), images, masks)
        encoded = tf.map_fn(inpaint_one_file, elements, fn_output_signature=tf.string)
        return {BYTES_OUTPUT_KEY: tf.reshape(encoded, tf.shape(image_bytes))}

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(SERVING_SIGNATURE, serving)
    archive.add_endpoint(
        BYTES_SIGNATURE,
        inpaint_bytes,
        input_signature=[
            tf.TensorSpec(None, tf.string, name="image_bytes"),
            tf.TensorSpec(None, tf.string, name="mask_bytes"),
        ],
    )
    staging = Path(tempfile.mkdtemp(prefix=f".export-{version}-", dir=directory))
    try:
        archive.write_out(str(staging / "saved_model"), verbose=False)
        os.rename(staging / "saved_model", target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _decode(encoded, name, index):
    """A file's uint16 values [H, W, C], C its channels (1 to 4). A string of no known format, or
    a file of a known format that is cut short (`_check_complete`), is refused naming
    ``<name>[index]``; other decode errors name the node ``<name>/DecodeImage`` (or
    ``<name>/DecodeJpeg``). JPEG and WebP, which TensorFlow decodes at 8 bits only, are scaled
    to 16."""
    import tensorflow as tf

    # Padded so that reading a header field never runs past a short string's end.
    head = tf.strings.join([encoded, b"\0" * _HEADER_BYTES])
    webp = tf.logical_and(
        tf.equal(tf.strings.substr(head, 0, len(_WEBP_RIFF)), _WEBP_RIFF),
        tf.equal(tf.strings.substr(head, _WEBP_FORM_OFFSET, len(_WEBP_FORM)), _WEBP_FORM),
    )
    kinds = tf.stack([tf.equal(tf.strings.substr(head, 0, len(start)), start)
                      for start in _FILE_SIGNATURES] + [webp])
    message = tf.strings.join([
        f"{name}[", tf.strings.as_string(index), "] is not a PNG, JPEG, GIF, BMP or WebP file "
        '(base64 text? TF Serving\'s REST API takes files as {"b64": "..."}); its first bytes: ',
        tf.strings.substr(encoded, 0, _SHOWN_BYTES),  # the whole string if it is shorter
    ])
    check = tf.debugging.Assert(tf.reduce_any(kinds), [message], name=f"{name}_format")
    with tf.control_dependencies([check]):
        kind = tf.argmax(tf.cast(kinds, tf.int32), output_type=tf.int32)
    encoded = _check_complete(encoded, head, kind, name, index)

    def eight_bits(values):
        return tf.cast(values, tf.uint16) * _EIGHT_TO_SIXTEEN_BITS

    def sixteen_bits():
        return tf.io.decode_image(encoded, dtype=tf.uint16, expand_animations=False, name=name)

    decoders = [  # in the order of _FILE_SIGNATURES, then WebP; turned upright as PIL turns them
        lambda: _oriented(sixteen_bits(), _exif_orientation(encoded, _png_exif)),  # 8 or 16 bits
        # libjpeg's accurate integer DCT, PIL's: TensorFlow's default, the fast one, gives
        # pixels a few levels off PIL's (up to 6 on a Kodak photo)
        lambda: _oriented(
            eight_bits(tf.io.decode_jpeg(encoded, dct_method="INTEGER_ACCURATE", name=name)),
            _exif_orientation(encoded, _jpeg_exif),
        ),
        sixteen_bits,
        sixteen_bits,
        lambda: _oriented(eight_bits(tf.io.decode_image(encoded, expand_animations=False)),
                          _exif_orientation(encoded, _webp_exif)),
    ]
    return tf.switch_case(kind, decoders)


def _exif_orientation(encoded, find_exif):
    """The EXIF orientation (1-8) of an image file as PIL's ``Image.getexif`` reads it, 1 when it
    has none or it cannot be read; the one function that reads EXIF for every format.

    `find_exif(padded, length)` gives the offsets of the file's EXIF data and of its end (int64;
    -1 when there is none; `_jpeg_exif`, `_png_exif`, `_webp_exif`), in the file padded with
    zeros (so no read runs past its end) whose length without them is `length`. As PIL, up to
    `_EXIF_HEADERS_DROPPED` `_EXIF_HEADER`s are dropped from the data's start; then come a TIFF
    header (byte order ``II`` or ``MM``, then the first image directory's offset) and that
    directory, whose entries (up to `_EXIF_ENTRIES_READ`, those that PIL reads: wholly inside the
    data, and before any whose value runs past the data's end) are searched for tag 0x0112. As
    for PIL, the first entry of that tag that PIL stores counts, its first value the
    orientation where its type is one of the `_EXIF_ORIENTATION_TYPES` (none where it is not,
    a BYTE say). Not reproduced (crafted files only): PIL also skips a repeated tag before
    counting its size or reading its value, which the graph counts and reads. EXIF data that
    PIL cannot parse (a header cut short or of no byte order; PIL
    raises, and `inpaint()` warns and reads the file as stored, `keras_inpaint.orientation`)
    has no orientation here."""
    import tensorflow as tf

    padded = tf.strings.join([encoded, b"\0" * _EXIF_PADDING_BYTES])
    tiff, end = find_exif(padded, tf.cast(tf.strings.length(encoded), tf.int64))
    for _ in range(_EXIF_HEADERS_DROPPED):
        header = tf.logical_and(
            tiff + len(_EXIF_HEADER) <= end,
            tf.equal(_bytes_at(padded, tiff, len(_EXIF_HEADER)), _EXIF_HEADER))
        tiff = tf.where(header, tiff + len(_EXIF_HEADER), tiff)
    order = _bytes_at(padded, tiff, 2)
    little = tf.equal(order, b"II")
    directory = tiff + _unsigned_at(padded, tiff + 4, 4, little)
    entries = tf.reshape(_raw_at(padded, directory + 2, 12 * _EXIF_ENTRIES_READ),
                         [_EXIF_ENTRIES_READ, 12])
    readable = tf.logical_and(tf.logical_and(tiff >= 0, tiff + 8 <= end),
                              tf.logical_or(little, tf.equal(order, b"MM")))
    entry = tf.range(_EXIF_ENTRIES_READ, dtype=tf.int64)
    kinds = _unsigned(entries[:, 2:4], little)
    read = tf.logical_and(entry < _unsigned_at(padded, directory, 2, little),
                          directory + 2 + 12 * (entry + 1) <= end)
    # PIL reads a value of more than 4 bytes where the entry's offset points, unless the values
    # read so far would then exceed the data's size (it skips it), and stops at the first one
    # that runs past the data's end: the entries after it are lost.
    type_bytes = tf.constant(_TIFF_TYPE_BYTES, tf.int64)
    sizes = _unsigned(entries[:, 4:8], little) * tf.gather(
        type_bytes, tf.minimum(kinds, len(_TIFF_TYPE_BYTES) - 1))
    elsewhere = tf.logical_and(read, sizes > 4)
    within_size = tf.cumsum(tf.where(elsewhere, sizes, 0)) <= end - tiff
    value_ends = tiff + _unsigned(entries[:, 8:12], little) + sizes
    stops = tf.reduce_all([elsewhere, within_size, value_ends > end], axis=0)
    read = tf.logical_and(read, tf.cumsum(tf.cast(stops, tf.int64), exclusive=True) == 0)
    # PIL keeps the first entry of each tag among those it stores: of a type it reads, with a
    # value, not skipped and not cut short.
    stored = tf.reduce_all([read, sizes > 0, tf.logical_not(stops),
                            tf.logical_or(tf.logical_not(elsewhere), within_size)], axis=0)
    candidates = tf.logical_and(
        stored, tf.equal(_unsigned(entries[:, 0:2], little), _EXIF_ORIENTATION_TAG))
    first = tf.reduce_min(tf.where(candidates, entry, _EXIF_ENTRIES_READ))
    found = first < _EXIF_ENTRIES_READ
    first = tf.minimum(first, _EXIF_ENTRIES_READ - 1)
    kind = tf.gather(kinds, first)
    value_at = tf.where(tf.gather(elsewhere, first),
                        tiff + _unsigned(tf.gather(entries, first)[8:12], little),
                        directory + 2 + 12 * first + 8)
    raw = _raw_at(padded, value_at, 4)
    value = tf.constant(0, tf.int64)
    for code, size in _EXIF_ORIENTATION_TYPES.items():
        value = tf.where(tf.equal(kind, code), _unsigned(raw[:size], little), value)
    value = tf.where(found, value, 0)  # 0 too for a type not in the table
    known = tf.logical_and(readable, tf.logical_and(value >= 1, value <= 8))
    return tf.cast(tf.where(known, value, 1), tf.int32)


def _jpeg_exif(padded, length):
    """`_exif_orientation`'s EXIF data of a JPEG file: PIL's, the first APP1 segment that starts
    with `_EXIF_HEADER` among the marker segments before the first scan."""
    import tensorflow as tf

    def segment(position):
        marker, data = _bytes_at(padded, position, 2), position + 4
        exif = tf.logical_and(tf.equal(marker, b"\xff\xe1"),
                              tf.equal(_bytes_at(padded, data, len(_EXIF_HEADER)), _EXIF_HEADER))
        last = tf.logical_or(tf.equal(marker, _JPEG_SCAN_START),
                             tf.not_equal(tf.strings.substr(marker, 0, 1), b"\xff"))
        following = position + 2 + _unsigned_at(padded, position + 2, 2, False)
        return exif, last, data, following, following

    return _exif_chunk(segment, 2, length)  # after the start-of-image marker


def _png_exif(padded, length):
    """`_exif_orientation`'s EXIF data of a PNG file: PIL's, the last ``eXIf`` chunk before
    IEND (PIL reads the chunks after the image data too, and each eXIf replaces the one before).
    The chunks are walked only in a file that holds the bytes ``eXIf``: a large PNG has
    thousands of IDAT chunks."""
    import tensorflow as tf

    def chunk(position):
        kind, data = _bytes_at(padded, position + 4, 4), position + 8
        data_end = data + _unsigned_at(padded, position, 4, False)
        return tf.equal(kind, _PNG_EXIF), tf.equal(kind, b"IEND"), data, data_end, data_end + 4

    return tf.cond(
        _contains(padded, _PNG_EXIF),
        lambda: _exif_chunk(chunk, len(_FILE_SIGNATURES[0]), length, keep_last=True),  # signature
        lambda: (tf.constant(-1, tf.int64),) * 2)


def _webp_exif(padded, length):
    """`_exif_orientation`'s EXIF data of a WebP file: libwebp's, which PIL reads, the first
    ``EXIF`` chunk inside the RIFF size, in an extended file (its first chunk ``VP8X``) whose
    flags say it has EXIF (libwebp ignores the chunk otherwise)."""
    import tensorflow as tf

    def chunk(position):
        data, size = position + 8, _unsigned_at(padded, position + 4)
        exif = tf.equal(_bytes_at(padded, position, 4), b"EXIF")
        return exif, tf.constant(False), data, data + size, data + size + size % 2  # even

    first_chunk = _WEBP_FORM_OFFSET + len(_WEBP_FORM)
    flags = _unsigned_at(padded, first_chunk + 8, 1)
    extended = tf.logical_and(tf.equal(_bytes_at(padded, first_chunk, 4), b"VP8X"),
                              tf.bitwise.bitwise_and(flags, _WEBP_EXIF_FLAG) > 0)
    riff_end = tf.minimum(_unsigned_at(padded, 4) + 8, length)  # the RIFF size counts from byte 8
    start, end = _exif_chunk(chunk, first_chunk, riff_end)
    return tf.where(extended, start, -1), end


def _exif_chunk(read_chunk, first, end, keep_last=False):
    """``(start, end)`` offsets (int64) of the data of a file's EXIF chunk (or segment), -1 when
    there is none: the first one, or the last where `keep_last`, among the chunks that follow
    each other from offset `first` and lie before `end`, up to the one `read_chunk` marks last.
    `read_chunk(offset)` gives the chunk's ``(is EXIF, is last, data start, data end, next
    chunk's offset)``; each chunk is at least a byte long, so the walk ends."""
    import tensorflow as tf

    def step(position, start, stop, _):
        exif, last, data, data_end, following = read_chunk(position)
        taken = tf.reduce_all([exif, data_end <= end, tf.logical_or(keep_last, start < 0)])
        start, stop = tf.where(taken, data, start), tf.where(taken, data_end, stop)
        more = tf.reduce_all([tf.logical_not(last), following < end,
                              tf.logical_or(keep_last, start < 0)])
        return following, start, stop, more

    none = tf.constant(-1, tf.int64)
    _, start, stop, _ = tf.while_loop(lambda *state: state[-1], step, (
        tf.constant(first, tf.int64), none, none, tf.constant(first, tf.int64) < end))
    return start, stop


def _oriented(values, orientation):
    """`values` [H, W, C] turned upright as PIL's ``ImageOps.exif_transpose`` turns a picture
    with EXIF `orientation` (1-8)."""
    import tensorflow as tf

    def transposed():
        return tf.transpose(values, [1, 0, 2])

    return tf.switch_case(orientation - 1, [
        lambda: values,
        lambda: tf.reverse(values, [1]),  # 2: mirrored left-right
        lambda: tf.reverse(values, [0, 1]),  # 3: rotated 180 degrees
        lambda: tf.reverse(values, [0]),  # 4: mirrored top-bottom
        transposed,  # 5
        lambda: tf.reverse(transposed(), [1]),  # 6: rotated 90 degrees clockwise
        lambda: tf.reverse(transposed(), [0, 1]),  # 7: transverse
        lambda: tf.reverse(transposed(), [0]),  # 8: rotated 90 degrees counter-clockwise
    ])


def _check_complete(encoded, head, kind, name, index):
    """`encoded` after checking that its file is whole and readable as `inference` reads it
    (with PIL), as far as TensorFlow's decoders go: a PNG holds its IEND chunk, a JPEG an
    end-of-image marker after its last scan's start, a WebP at least the length its RIFF header
    gives, a BMP at least the length of its pixel rows, at 8, 24 or 32 bits per pixel (the
    ones TensorFlow reads), and at 8 bits with a grey palette (TensorFlow reads 8-bit pixels as
    grey levels, where PIL looks their colours up). Bytes past a BMP's rows, which TensorFlow
    refuses and PIL ignores, are dropped. Otherwise it is refused naming ``<name>[index]``,
    the problem and the file's length. GIF is not checked: TensorFlow reads a GIF without its
    trailer, and one cut shorter fails at the decoder. `kind` is the file's format, an index in
    `_FILE_SIGNATURES` (4: WebP); only that format's checks run."""
    import tensorflow as tf

    length = tf.cast(tf.strings.length(encoded), tf.int64)
    size = tf.strings.as_string(length)

    def png():
        return encoded, _first_problem([(
            _contains(encoded, _PNG_END),
            ["a PNG file without its IEND chunk (", size, " bytes): cut short in transfer?"])])

    def jpeg():
        scans = tf.strings.split(encoded, sep=_JPEG_SCAN_START)
        return encoded, _first_problem([(
            tf.logical_and(tf.size(scans) > 1, _contains(scans[-1], _JPEG_END)),
            ["a JPEG file without an end-of-image marker after its last scan (", size,
             " bytes): cut short in transfer?"])])

    def gif():
        return encoded, _first_problem([])

    def bmp():
        bits, palette, pixels_end = _bmp_layout(encoded, length, head)
        rows = tf.cast(tf.clip_by_value(pixels_end, 0, length), tf.int32)  # checked below
        return tf.strings.substr(encoded, 0, rows), _first_problem([
            (tf.reduce_any(tf.equal(bits, _BMP_BITS)),
             ["a BMP file of ", tf.strings.as_string(bits),
              " bits per pixel (8, 24 or 32 can be read)"]),
            (tf.logical_or(tf.not_equal(bits, 8), tf.equal(
                palette, tf.strings.substr(_GREY_PALETTE, 0, tf.strings.length(palette)))),
             ["an 8-bit BMP file with a colour palette (8-bit BMP files are read as grey)"]),
            (length >= pixels_end,
             ["a BMP file shorter than its pixel rows (", size, " bytes, its header says ",
              tf.strings.as_string(pixels_end), "): cut short in transfer?"]),
        ])

    def webp():
        riff_end = _unsigned_at(head, 4) + 8  # a WebP's RIFF size counts from byte 8
        return encoded, _first_problem([(
            length >= riff_end,
            ["a WebP file shorter than its RIFF header says (", size, " bytes, it says ",
             tf.strings.as_string(riff_end), "): cut short in transfer?"])])

    checked, (whole, problem) = tf.switch_case(kind, [png, jpeg, gif, bmp, webp])
    message = tf.strings.join([f"{name}[", tf.strings.as_string(index), "] is ", problem])
    check = tf.debugging.Assert(whole, [message], name=f"{name}_complete")
    with tf.control_dependencies([check]):
        return tf.identity(checked)


def _first_problem(problems):
    """``(whether the file is free of every problem, the first one's description)`` of
    `problems`, pairs of (bool tensor: free of it, the parts of its description)."""
    import tensorflow as tf

    if not problems:
        return tf.constant(True), tf.constant("")
    free = tf.stack([condition for condition, _ in problems])
    descriptions = tf.stack([tf.strings.join(parts) for _, parts in problems])
    return tf.reduce_all(free), tf.gather(descriptions, tf.argmin(tf.cast(free, tf.int32)))


def _contains(text, part):
    """Whether the string `text` holds the bytes `part`."""
    import tensorflow as tf

    return tf.size(tf.strings.split(text, sep=part)) > 1


def _bytes_at(text, offset, size):
    """The `size` bytes of the string `text` at `offset` (int64), which is clipped to the string:
    an offset past its end reads its last `size` bytes (callers pad what they read)."""
    import tensorflow as tf

    offset = tf.clip_by_value(tf.cast(offset, tf.int64), 0,
                              tf.cast(tf.strings.length(text), tf.int64) - size)
    return tf.strings.substr(text, offset, tf.constant(size, tf.int64))


def _raw_at(text, offset, size):
    """The `size` bytes at `offset` in `text` (`_bytes_at`) as a uint8 vector of static size."""
    import tensorflow as tf

    return tf.reshape(tf.io.decode_raw(_bytes_at(text, offset, size), tf.uint8), [size])


def _unsigned_at(text, offset, size=4, little=True):
    """The unsigned integer (int64) of the `size` bytes at `offset` in `text` (`_raw_at`),
    little-endian, or big-endian where `little` (a bool or bool tensor) is False."""
    return _unsigned(_raw_at(text, offset, size), little)


def _unsigned(raw, little=True):
    """The unsigned integers, as int64, whose bytes are the last axis of uint8 `raw` (its size
    static), in little-endian order, or big-endian where `little` (a bool or bool tensor) is
    False. The weights are NumPy constants: the loops over a file's chunks run this once a chunk.
    """
    import tensorflow as tf

    weights = 256 ** np.arange(raw.shape[-1], dtype=np.int64)
    weights = tf.where(little, weights, weights[::-1])
    return tf.reduce_sum(tf.cast(raw, tf.int64) * weights, axis=-1)


def _bmp_layout(encoded, length, head):
    """A BMP's bits per pixel, palette (the bytes between its headers and its pixels) and the
    offset just past its last pixel row, from its headers as TensorFlow's decoder reads them
    (rows padded to 4 bytes; a negative height stores the rows top-down). `length` is the
    file's (int64), `head` the file padded past its header."""
    import tensorflow as tf

    bits = _unsigned_at(head, 28, size=2)
    width = _unsigned_at(head, 18)
    height = _unsigned_at(head, 22)
    height = tf.where(height >= 2**31, 2**32 - height, height)  # int32 in the header
    pixels_start = _unsigned_at(head, 10)
    # Clipped to the string: substr refuses a start past its end (a BMP cut in its header).
    palette_start = tf.minimum(
        _BMP_FILE_HEADER_BYTES + _unsigned_at(head, _BMP_FILE_HEADER_BYTES), length)
    palette = tf.strings.substr(encoded, tf.cast(palette_start, tf.int32), tf.cast(
        tf.clip_by_value(pixels_start - palette_start, 0, length), tf.int32))
    return bits, palette, pixels_start + (bits // 8 * width + 3) // 4 * 4 * height


def _fractions(values):
    """uint16 values as float32 in [0, 1]."""
    import tensorflow as tf

    return tf.cast(values, tf.float32) / _SIXTEEN_BIT_LEVELS


def _colour(values):
    """[H, W, 3] colour of [H, W, C] values: grey repeated, alpha (the last of 2 or 4) dropped."""
    import tensorflow as tf

    in_colour = tf.cast(tf.shape(values)[-1] >= 3, tf.int32)
    return tf.gather(values, tf.constant([0, 1, 2]) * in_colour, axis=-1)


def _decode_photo(encoded, index):
    """uint8 [H, W, 3] of an image file as `inference` reads it with PIL: a 16-bit grey photo
    rounded to the nearest 8-bit level, a 16-bit colour one (PIL's RGB / RGBA) cut to its top
    8 bits, alpha dropped."""
    import tensorflow as tf

    values = _decode(encoded, "image_bytes", index)
    return _colour(tf.cond(
        tf.shape(values)[-1] == 1,
        lambda: _to_levels(_fractions(values)),
        lambda: tf.cast(tf.bitwise.right_shift(values, 8), tf.uint8),
    ))


def _decode_hole(encoded, index):
    """Bool [H, W, 1] hole of a mask file by `inpaint()`'s rules (default threshold): the
    luminance of its colour (grey as it is), times its alpha if it has one, above 0."""
    import tensorflow as tf

    values = _fractions(_decode(encoded, "mask_bytes", index))
    alpha = tf.where(tf.shape(values)[-1] % 2 == 0, values[..., -1], 1.0)
    return (tf.tensordot(_colour(values), LUMA_WEIGHTS, 1) * alpha > 0)[..., tf.newaxis]


def _to_levels(values):
    """Float in [0, 1] -> uint8, rounded to the nearest level (ties to even, as `inference`)."""
    import tensorflow as tf

    levels = tf.round(tf.clip_by_value(tf.cast(values, tf.float32), 0.0, 1.0) * _LEVELS)
    return tf.cast(levels, tf.uint8)


def _run(model, pixels, hole):
    """The model on a float32 batch with 0/1 holes, as float32."""
    import tensorflow as tf

    return tf.cast(model({"image": pixels * (1.0 - hole), "mask": hole}, training=False),
                   tf.float32)


def _whole_or_in_crops(model, pixels, hole):
    """[N,H,W,3] output of `model`: on the whole batch, or for images larger than
    `HIGH_RESOLUTION_FACTOR` times its size, per image on crops around its hole regions
    (module docstring)."""
    import tensorflow as tf

    size = training_size(model)
    if size is None:
        return _run(model, pixels, hole)
    height, width = tf.shape(pixels)[1], tf.shape(pixels)[2]
    large = tf.logical_or(
        tf.cast(height, tf.float64) > HIGH_RESOLUTION_FACTOR * size[0],
        tf.cast(width, tf.float64) > HIGH_RESOLUTION_FACTOR * size[1],
    )
    return tf.cond(
        large,
        lambda: tf.map_fn(
            lambda one: _fill_hole_regions(model, size, *one),
            (pixels, hole),
            fn_output_signature=tf.float32,
        ),
        lambda: _run(model, pixels, hole),
    )


def _fill_hole_regions(model, size, pixels, hole):
    """One image [H,W,3] with its holes [H,W,1] filled region by region (`_hole_regions`),
    each from a crop around it, as `inference` fills a large photo."""
    import tensorflow as tf

    image_sides = tf.shape(pixels, out_type=tf.int64)[:2]
    regions, count = _hole_regions(hole[..., 0] > 0)
    # Every region's bounding box grown by REGION_MERGE_RADIUS (as `inference` boxes its
    # dilated regions), all in one pass over the hole pixels: [count, 2] (row, column).
    hole_pixels = tf.where(regions >= 0)
    owner = tf.gather_nd(regions, hole_pixels)
    firsts_found = tf.math.unsorted_segment_min(hole_pixels, owner, count)
    lasts_found = tf.math.unsorted_segment_max(hole_pixels, owner, count)
    box_starts = tf.maximum(firsts_found - REGION_MERGE_RADIUS, 0)
    box_ends = tf.minimum(lasts_found + 1 + REGION_MERGE_RADIUS, image_sides)

    def fill_region(index, positions, values):
        box = [(box_starts[index, axis], box_ends[index, axis]) for axis in (0, 1)]
        firsts, sides, scale = _context_window(box, size, image_sides)
        window = tuple(slice(first, first + side) for first, side in zip(firsts, sides))
        crop, crop_hole = pixels[window], hole[window]
        small_size = tf.stack([
            tf.cast(tf.maximum(tf.round(tf.cast(side, tf.float64) / scale), 1), tf.int32)
            for side in sides
        ])
        small = tf.image.resize(crop, small_size, method="area")
        small_hole = tf.cast(tf.image.resize(crop_hole, small_size, method="area") > 0, tf.float32)
        output = _run(model, small[tf.newaxis], small_hole[tf.newaxis])[0]
        output = tf.image.resize(output, tf.cast(tf.stack(sides), tf.int32), method="bilinear")
        inside = tf.where(tf.equal(regions[window], index))  # the region's holes, in the crop
        return (index + 1, positions.write(index, inside + tf.stack(firsts)),
                values.write(index, tf.gather_nd(output, inside)))

    # Each region's hole pixels and their fill, pasted in one scatter after the loop: the loop
    # touches crops only, never the whole photo.
    def pieces(dtype, channels):
        return tf.TensorArray(dtype, size=count, infer_shape=False,
                              element_shape=tf.TensorShape([None, channels]))

    _, positions, values = tf.while_loop(
        lambda index, *_: index < count, fill_region,
        (tf.constant(0), pieces(tf.int64, 2), pieces(tf.float32, 3)))
    return tf.tensor_scatter_nd_update(pixels, positions.concat(), values.concat())


def _hole_regions(hole):
    """Split the holes [H, W] (bool) into regions: ``(index [H, W] int32, count)``, index -1
    outside the holes.

    As `inference`, holes closer than about twice `REGION_MERGE_RADIUS` pixels form one region
    (the holes are dilated by it); the connected parts of the dilated holes are found on a grid
    of `_REGION_CELL`-pixel cells (label propagation: each cell of the dilated holes takes the
    largest label among its 8 neighbours until none changes), which may join dilated holes
    that come within a cell of each other: one crop for both, never a hole left out.
    """
    import tensorflow as tf

    # A cell is in the dilated holes if a hole pixel lies within REGION_MERGE_RADIUS of it:
    # the maximum over the cell grown by the radius, i.e. windows of cell + 2 radii every cell
    # (two separable max-pools over the zero-padded holes: no full-resolution dilation).
    radius, cell = REGION_MERGE_RADIUS, _REGION_CELL
    height, width = tf.shape(hole)[0], tf.shape(hole)[1]
    padding = [[0, 0], [radius, -height % cell + radius], [radius, -width % cell + radius], [0, 0]]
    cells = tf.pad(tf.cast(hole, tf.float32)[tf.newaxis, ..., tf.newaxis], padding)
    grown = cell + 2 * radius
    for window, stride in (((grown, 1), (cell, 1)), ((1, grown), (1, cell))):
        cells = tf.nn.max_pool2d(cells, window, strides=stride, padding="VALID")
    cells_shape = tf.shape(cells)
    # Labels are exact in float32 up to 2**24 cells (a 32768 x 32768 photo).
    labels = tf.reshape(
        tf.range(1, tf.reduce_prod(cells_shape) + 1, dtype=tf.float32), cells_shape) * cells

    def spread(labels, _):
        grown = tf.nn.max_pool2d(labels, 3, strides=1, padding="SAME") * cells
        return grown, tf.reduce_any(tf.not_equal(grown, labels))

    labels, _ = tf.while_loop(lambda _, changed: changed, spread, (labels, tf.constant(True)))
    flat = tf.reshape(labels, [-1])
    values = tf.sort(tf.unique(tf.boolean_mask(flat, flat > 0))[0])  # one per region
    cell_index = tf.where(flat > 0, tf.searchsorted(values, flat, out_type=tf.int32), -1)
    cell_index = tf.reshape(cell_index, cells_shape[1:3])
    pixel_cells = tf.gather(tf.gather(cell_index, tf.range(height) // cell, axis=0),
                            tf.range(width) // cell, axis=1)
    return tf.where(hole, pixel_cells, -1), tf.size(values)


def _context_window(box, size, image_sides):
    """`inference._context_window`'s crop in int64 tensors: its first rows / columns, its
    sides and its down-scaling factor (float64), for `box` ``[(top, bottom), (left, right)]``."""
    import tensorflow as tf

    extents = [tf.cast(end - start, tf.float64) for start, end in box]
    wanted = tf.reduce_max([1.0, CONTEXT_FACTOR * extents[0] / size[0],
                            CONTEXT_FACTOR * extents[1] / size[1]])
    firsts, sides = [], []
    for axis, (start, end) in enumerate(box):
        side = tf.minimum(image_sides[axis], tf.cast(tf.math.ceil(size[axis] * wanted), tf.int64))
        middle = start + (end - start) // 2
        firsts.append(tf.minimum(tf.maximum(middle - side // 2, 0), image_sides[axis] - side))
        sides.append(side)
    ratios = [tf.cast(side, tf.float64) / model_side for side, model_side in zip(sides, size)]
    floor = tf.reduce_min(ratios) / MIN_SCALED_FRACTION
    scale = tf.minimum(tf.reduce_max(ratios), floor)
    return firsts, sides, tf.maximum(tf.constant(1.0, tf.float64), scale)
