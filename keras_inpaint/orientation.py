"""Turning a loaded picture upright by its EXIF orientation, as PIL does, for every reader of
photo files (`keras_inpaint.inference`, `keras_inpaint.data`)."""

import warnings

from PIL import ImageOps


def upright(image, what):
    """`image`, a loaded PIL image, turned as its EXIF orientation says (PIL's
    ``ImageOps.exif_transpose``: phones store most photos sideways with such a tag).

    EXIF data that PIL cannot parse (cut short, no TIFF byte order, ...) says nothing about the
    pixels, which are read: the picture is used as stored, with a warning naming `what` (the
    file), as viewers show it and as the exported graph reads it (`keras_inpaint.export`)."""
    try:
        return ImageOps.exif_transpose(image)
    except Exception as error:  # noqa: BLE001 (PIL raises SyntaxError, struct.error, ...)
        warnings.warn(f"{what}: its EXIF data cannot be read ({type(error).__name__}: {error}); "
                      "used as stored, not turned by an EXIF orientation", stacklevel=3)
        return image
