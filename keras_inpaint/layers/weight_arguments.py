"""The weight arguments that layers with a kernel and a bias take, as Keras' own layers do.

``use_bias``, ``kernel_initializer``, ``bias_initializer``, ``kernel_regularizer``,
``bias_regularizer``, ``kernel_constraint`` and ``bias_constraint`` mean what they mean for
``keras.layers.Dense`` and ``keras.layers.Conv2D``; `weight_arguments_config` serialises a
layer's values of them for its ``get_config`` (`ChannelwiseDense`, `GatedConv2D`).
"""

import keras

WEIGHT_ARGUMENT_SERIALIZERS = {
    "kernel_initializer": keras.initializers.serialize,
    "bias_initializer": keras.initializers.serialize,
    "kernel_regularizer": keras.regularizers.serialize,
    "bias_regularizer": keras.regularizers.serialize,
    "kernel_constraint": keras.constraints.serialize,
    "bias_constraint": keras.constraints.serialize,
}
"""Weight argument name -> the Keras function that serialises its value."""


def weight_arguments_config(layer):
    """``{"use_bias": ..., "kernel_initializer": ..., ...}``: `layer`'s weight arguments
    (attributes of the same names), serialised for its ``get_config``.

    Example:
    >>> config = weight_arguments_config(keras.layers.Dense(4))
    >>> config["use_bias"], config["bias_initializer"]["class_name"]
    (True, 'Zeros')
    """
    config = {"use_bias": layer.use_bias}
    for name, serialize in WEIGHT_ARGUMENT_SERIALIZERS.items():
        config[name] = serialize(getattr(layer, name))
    return config
