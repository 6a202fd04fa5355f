"""A training run directory's file names, and writing files so that a kill at any moment
leaves the old or the new file, never half.

The names are here, in a module without TensorFlow, so that `keras_inpaint.zoo` (which
`keras-inpaint list` imports) reads what `keras_inpaint.training` and
`keras_inpaint.validation` write without importing them.
"""

import os
import tempfile
from pathlib import Path

RUN_CONFIG_FILE = "run.json"
"""The run's settings (`keras_inpaint.training`)."""
MODEL_FILE = "model.keras"
"""The finished run's model, optimizers included."""
WEIGHTS_FILE = "model.weights.h5"
"""The finished run's weights alone (also a zoo preset's weights file)."""
TIMING_FILE = "timing.json"
"""Wall time, steps and devices of each training session."""
VALIDATION_FILE = "validation.json"
"""The validation curve (`keras_inpaint.validation`)."""


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
