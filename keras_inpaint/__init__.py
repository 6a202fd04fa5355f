"""keras_inpaint: deep-learning image inpainting for Keras 3.

Layers (`keras_inpaint.layers`), one trainable model per classic paper
(`keras_inpaint.models`), a zoo of presets (`keras_inpaint.zoo`), inference (`inpaint`) and
SavedModel export for TF Serving (`keras_inpaint.export`).
"""

import importlib

__version__ = "0.1.0"

SUBMODULES = ("convert", "data", "evaluation", "export", "inference", "layers", "losses", "masks",
              "metrics", "models", "postprocess", "training", "zoo")
"""Imported on first access (``keras_inpaint.zoo.load(...)`` after ``import keras_inpaint``), so
that importing the package, and so the command line, does not import Keras and TensorFlow
before a command needs them. Keras finds this package's layers and models when it loads a saved
model only once their modules are imported: import ``keras_inpaint.layers`` (or
``keras_inpaint.models``'s model module) before ``keras.saving.load_model``."""


def __getattr__(name):
    if name in SUBMODULES:
        return importlib.import_module(f"keras_inpaint.{name}")
    raise AttributeError(f"module 'keras_inpaint' has no attribute {name!r}")


def inpaint(*args, **kwargs):
    """Inpaint images with a zoo model; see `keras_inpaint.inference.inpaint`."""
    from keras_inpaint.inference import inpaint as _inpaint

    return _inpaint(*args, **kwargs)
