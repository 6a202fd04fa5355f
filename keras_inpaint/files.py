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
