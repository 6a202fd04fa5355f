"""Writing run files so that a kill at any moment leaves the old or the new file, never half."""

import os
import tempfile
from pathlib import Path


def atomic_write_text(path, text):
    """Write `text` to a temporary file beside `path`, then rename it into place."""
    path = Path(path)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp",
                                     encoding="utf-8") as f:
        f.write(text)
    os.replace(f.name, path)


def atomic_save(save, path):
    """``save(temporary path)`` (e.g. ``model.save``), then rename the file to `path`; the
    temporary name keeps `path`'s suffix (Keras checks ``.keras`` / ``.weights.h5``)."""
    path = Path(path)
    temporary = path.with_name("tmp-" + path.name)
    save(str(temporary))
    os.replace(temporary, path)
