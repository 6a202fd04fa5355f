"""One trainable `keras.Model` per paper, sharing the core in `base.py`.

`MODELS` maps each model's canonical name to ``"module:Class"``; classes are imported on
first use so that importing one model does not build the others.
"""

import importlib

MODELS = {
    "context_encoder": "keras_inpaint.models.context_encoder:ContextEncoder",
    "global_local": "keras_inpaint.models.global_local:GlobalLocalInpainter",
    "latent_search": "keras_inpaint.models.latent_search:LatentSearchInpainter",
    "contextual_attention": "keras_inpaint.models.contextual_attention:ContextualAttentionInpainter",
    "partial_conv": "keras_inpaint.models.partial_conv:PartialConvInpainter",
    "gated_conv": "keras_inpaint.models.gated_conv:GatedConvInpainter",
}


def get_model_class(name):
    """The model class registered under `name` (canonical names only; see `keras_inpaint.zoo`),
    or, for ``"package.module:Class"``, a user's own `InpaintingModel` subclass."""
    if ":" in name:
        module_name, class_name = name.split(":", 1)
        return getattr(importlib.import_module(module_name), class_name)
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; valid names: {', '.join(sorted(MODELS))}")
    module_name, class_name = MODELS[name].split(":")
    return getattr(importlib.import_module(module_name), class_name)
