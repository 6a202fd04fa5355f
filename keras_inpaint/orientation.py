"""Turning a loaded picture upright by its EXIF orientation, as PIL does, for every reader of
photo files (`keras_inpaint.inference`, `keras_inpaint.data`)."""

import warnings

from PIL import ExifTags, Image

TRANSPOSES = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
"""EXIF orientation -> the transpose that shows the picture upright (PIL's
``ImageOps.exif_transpose``'s table; 1 and anything else: as stored)."""


def upright(image, what):
    """`image`, a loaded PIL image, turned as its EXIF orientation says, as PIL's
    ``ImageOps.exif_transpose`` turns it (phones store most photos sideways with such a tag).

    The orientation is read with ``image.getexif()``, looked up as PIL looks it up (a value
    equal to 2-8 turns the picture, whatever its TIFF type), and applied with
    ``image.transpose``; unlike ``exif_transpose``, the EXIF data is not rewritten afterwards,
    which fails for some files whose orientation PIL reads. EXIF data that PIL cannot parse
    (cut short, no TIFF byte order, ...) says nothing about the pixels: the picture is used as
    stored, with a warning naming `what` (the file), as viewers show it and as the exported
    graph reads it (`keras_inpaint.export`)."""
    try:
        orientation = image.getexif().get(ExifTags.Base.Orientation, 1)
    except Exception as error:  # noqa: BLE001 (PIL raises SyntaxError, struct.error, ...)
        warnings.warn(f"{what}: its EXIF data cannot be read ({type(error).__name__}: {error}); "
                      "used as stored, not turned by an EXIF orientation", stacklevel=3)
        return image
    transpose = TRANSPOSES.get(orientation)
    return image if transpose is None else image.transpose(transpose)
