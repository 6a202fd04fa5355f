"""Nearest-neighbour resizing as the inpainting papers' code does it (NHWC).

Yu et al.'s DeepFill code upsamples its decoders by 2 and shrinks the hole mask to the feature
resolution with TensorFlow 1's ``resize_nearest_neighbor(..., align_corners=True)``: output
index i reads input index ``round(i * (n_in - 1) / (n_out - 1))``. For a x2 upsampling that
happens to equal pixel repetition, but downsampling is not "every k-th pixel": 8 pixels to 4
reads 0, 2, 5, 7 instead of 0, 2, 4, 6. Converted checkpoints need that behaviour; models
trained here use the ordinary one (``align_corners=False``: index ``floor(i * n_in / n_out)``,
pixel repetition when upsampling and every k-th pixel when downsampling by k, the same
convention as `ContextualAttention`'s own downsampling).

`resize_nearest` is the function; `NearestResize` the layer that functional models use.
"""

import keras
import tensorflow as tf


def resize_nearest(images, size, align_corners=False):
    """Nearest-neighbour resize of `images` to `size`, TF1 semantics.

    With n_in input and n_out output pixels along an axis, output index i reads input index
        floor(i * s),  s = n_in / n_out                          if align_corners is False,
        round(i * s),  s = (n_in - 1) / (n_out - 1) (n_in / n_out if n_out = 1) otherwise,
    clipped to n_in - 1, computed in float32 with halves rounded away from zero, exactly as
    TF1's ``resize_nearest_neighbor`` kernel (without half-pixel centres). It is written as two
    gathers so that gradients flow to `images` also under XLA (``jit_compile``), which has no
    kernel for the gradient of TensorFlow's resize op.

    Args:
        images: [B, H, W, C] tensor, any dtype.
        size: (height, width) of the output, ints or scalar int tensors.
        align_corners: TF1's ``align_corners`` flag (True reproduces the DeepFill code).

    Returns:
        [B, height, width, C] tensor of the dtype of `images`.

    Example:
    >>> x = tf.reshape(tf.range(8.0), [1, 1, 8, 1])
    >>> resize_nearest(x, (1, 4))[0, 0, :, 0].numpy()
    array([0., 2., 4., 6.], dtype=float32)
    >>> resize_nearest(x, (1, 4), align_corners=True)[0, 0, :, 0].numpy()
    array([0., 2., 5., 7.], dtype=float32)
    """
    shape = tf.shape(images)
    for axis, output_size in ((1, size[0]), (2, size[1])):
        indices = _source_indices(shape[axis], output_size, align_corners)
        images = tf.gather(images, indices, axis=axis)
    return images


def _source_indices(input_size, output_size, align_corners):
    """Input index read by each output index along one axis (see `resize_nearest`)."""
    input_size = tf.cast(input_size, "int32")
    output_size = tf.cast(output_size, "int32")
    n_in = tf.cast(input_size, "float32")
    n_out = tf.cast(output_size, "float32")
    if align_corners:
        scale = tf.where(output_size > 1, (n_in - 1.0) / tf.maximum(n_out - 1.0, 1.0), n_in / n_out)
    else:
        scale = n_in / n_out
    position = tf.cast(tf.range(output_size), "float32") * scale
    index = tf.floor(position)
    if align_corners:
        index = tf.where(position - index >= 0.5, index + 1.0, index)
    return tf.minimum(tf.cast(index, "int32"), input_size - 1)


@keras.saving.register_keras_serializable(package="keras_inpaint")
class NearestResize(keras.layers.Layer):
    """Nearest-neighbour resize by an integer factor or to the size of a reference tensor.

    ``NearestResize(scale=2)(x)`` doubles height and width (the decoders' upsampling);
    ``NearestResize()(mask, reference=features)`` resizes `mask` to the height and width of
    `features` (the hole mask at a feature map's resolution). Works with sizes unknown until
    run time. See `resize_nearest` for the index formula and `align_corners`.

    Shapes (NHWC): images [B, H, W, C] -> [B, scale*H, scale*W, C], or
    [B, h, w, C] with (h, w) the height and width of `reference`.

    Args:
        scale: positive integer upsampling factor used when no `reference` is given.
        align_corners: TF1 ``resize_nearest_neighbor`` ``align_corners`` (True for the
            authors' DeepFill checkpoints).
        **kwargs: base layer arguments (name, dtype, ...).

    Example:
    >>> NearestResize(scale=2)(keras.ops.zeros((1, 4, 6, 3))).shape
    TensorShape([1, 8, 12, 3])
    """

    def __init__(self, scale=2, align_corners=False, **kwargs):
        super().__init__(**kwargs)
        if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
            raise ValueError(f"scale must be a positive integer, received {scale!r}")
        self.scale = scale
        self.align_corners = align_corners

    def call(self, images, reference=None):
        if reference is None:
            shape = tf.shape(images)
            size = (shape[1] * self.scale, shape[2] * self.scale)
        else:
            shape = tf.shape(reference)
            size = (shape[1], shape[2])
        outputs = resize_nearest(images, size, align_corners=self.align_corners)
        outputs.set_shape(self.compute_output_shape(images.shape, _shape_of(reference)))
        return outputs

    def compute_output_shape(self, images_shape, reference_shape=None):
        if reference_shape is not None:
            return (images_shape[0], reference_shape[1], reference_shape[2], images_shape[3])
        spatial = tuple(None if n is None else n * self.scale for n in images_shape[1:3])
        return (images_shape[0], *spatial, images_shape[3])

    def get_config(self):
        config = super().get_config()
        config.update({"scale": self.scale, "align_corners": self.align_corners})
        return config


def _shape_of(tensor):
    return None if tensor is None else tuple(tensor.shape)
