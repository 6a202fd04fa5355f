"""keras_inpaint: deep-learning image inpainting for Keras 3.

Layers (`keras_inpaint.layers`), one trainable model per classic paper
(`keras_inpaint.models`), a zoo of presets (`keras_inpaint.zoo`), inference (`inpaint`) and
SavedModel export for TF Serving (`keras_inpaint.export`).
"""

__version__ = "0.1.0"


def inpaint(*args, **kwargs):
    """Inpaint images with a zoo model; see `keras_inpaint.inference.inpaint`."""
    from keras_inpaint.inference import inpaint as _inpaint

    return _inpaint(*args, **kwargs)
