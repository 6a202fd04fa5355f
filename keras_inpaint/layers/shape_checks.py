"""Shape agreement between a layer's inputs, checked statically and, where sizes are unknown
until run time, in the graph (`PartialConv2D`'s mask, `ContextualAttention`'s background and
mask), and the channel count a convolution's weights need.
"""

import keras
import tensorflow as tf


def check_same_dims(tensor, reference, rank, message):
    """`tensor`, after checking that its first `rank` dimensions equal `reference`'s.

    Raises ValueError(message) when known dimensions differ. Dimensions unknown until run time
    (a `tf.function` traced with None dimensions) are compared there by a TF assertion failing
    with the same message (InvalidArgumentError), and `tensor` is returned behind it, so that
    nothing computed from it runs first (and fails with a less telling shape error, or
    broadcasts a batch of 1 silently). Fully known shapes and Keras symbolic tensors (they have
    no run time) add no assertion. XLA ignores assertions.

    Example:
    >>> check_same_dims(np.zeros((2, 4, 4, 1)), np.zeros((2, 4, 4, 3)), 3, "no").shape
    (2, 4, 4, 1)
    """
    static, expected = tuple(tensor.shape[:rank]), tuple(reference.shape[:rank])
    if any(a is not None and b is not None and a != b for a, b in zip(static, expected)):
        raise ValueError(message)
    if None not in static + expected or isinstance(reference, keras.KerasTensor):
        return tensor
    check = tf.debugging.assert_equal(
        tf.shape(reference)[:rank], tf.shape(tensor)[:rank], message=message, summarize=rank
    )
    with tf.control_dependencies([check]):
        return tf.identity(tensor)


def check_known_channels(layer, input_shape):
    """Raise ValueError naming `input_shape` when its last (channel) dimension is unknown: a
    convolution's kernel needs it, and `keras.layers.Conv2D.build` fails on a bare TypeError."""
    if input_shape[-1] is None:
        raise ValueError(
            f"{type(layer).__name__} needs a known number of input channels, "
            f"received shape {tuple(input_shape)}"
        )
