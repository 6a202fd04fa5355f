"""Channel-wise fully connected layer (Pathak et al. 2016)."""

import keras
from keras import ops

from keras_inpaint.layers.weight_arguments import weight_arguments_config


@keras.saving.register_keras_serializable(package="keras_inpaint")
class ChannelwiseDense(keras.layers.Layer):
    """Channel-wise fully connected layer of the Context Encoder (Pathak et al. 2016).

    Every channel `c` gets its own full connection across the `P = H * W` spatial positions and
    no parameters are shared between channels. With `x` viewed as `[B, P, C]` (row-major
    positions `p = h * W + w`) and the kernel `K` of shape `[C, P, P]` mapping input position `p`
    to output position `q`:

        y[b, q, c] = sum_p x[b, p, c] * K[c, p, q] + bias[c, q]

    computed as one einsum. It costs `C * P^2` parameters instead of the `(C * P)^2` of a dense
    layer on the flattened map, which is why the paper uses it at the 4x4 (or 6x6) bottleneck.
    The layer needs a static H, W and C (its kernel size depends on them).

    Variance-scaling kernel initializers (Glorot, He, LeCun) use the fans of one channel's
    `[P, P]` matrix, fan-in = fan-out = `P`: Keras would otherwise count the channel axis of the
    `[C, P, P]` kernel as a receptive field and scale the initial weights down by `sqrt(C)`.

    Args:
        use_bias: whether to add `bias` `[C, P]`.
        kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer,
        kernel_constraint, bias_constraint: as in `keras.layers.Dense`.
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Weights: `kernel` `[C, H * W, H * W]` and `bias` `[C, H * W]`.

    Input shape: `[B, H, W, C]` with static H, W, C. Output shape: the same, compute dtype.

    Example:
    >>> x = np.random.rand(2, 4, 4, 512).astype("float32")
    >>> layer = ChannelwiseDense()
    >>> layer(x).shape, layer.count_params()
    (TensorShape([2, 4, 4, 512]), 139264)

    Reference: D. Pathak, P. Krahenbuhl, J. Donahue, T. Darrell, A. A. Efros, "Context
    Encoders: Feature Learning by Inpainting", CVPR 2016 (arXiv:1604.07379), section 3.1.
    """

    def __init__(
        self,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.use_bias = use_bias
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.kernel_constraint = keras.constraints.get(kernel_constraint)
        self.bias_constraint = keras.constraints.get(bias_constraint)
        self.input_spec = keras.layers.InputSpec(ndim=4)

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) != 4 or None in input_shape[1:]:
            raise ValueError(
                "ChannelwiseDense needs inputs of rank 4 with a static height, width and "
                f"channel count, received shape {input_shape}"
            )
        height, width, channels = input_shape[1:]
        positions = height * width
        self.input_spec = keras.layers.InputSpec(
            ndim=4, axes={1: height, 2: width, 3: channels}
        )
        self.kernel = self.add_weight(
            name="kernel",
            shape=(channels, positions, positions),
            initializer=_per_channel_fans(self.kernel_initializer, channels),
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias",
                shape=(channels, positions),
                initializer=self.bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )

    def call(self, inputs):
        _, height, width, channels = inputs.shape
        positions = ops.reshape(inputs, (-1, height * width, channels))
        outputs = ops.einsum("bpc,cpq->bqc", positions, self.kernel)
        if self.use_bias:
            outputs = outputs + ops.transpose(self.bias)
        return ops.reshape(outputs, (-1, height, width, channels))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(weight_arguments_config(self))
        return config


def _per_channel_fans(initializer, channels):
    """Makes a variance-scaling initializer of a `[C, P, Q]` kernel use the fans `P` and `Q`.

    Keras computes the fans of `[C, P, Q]` as `C * P` and `C * Q`; multiplying the scale by `C`
    gives the variance `scale / fan` of a single `[P, Q]` matrix. Other initializers do not
    depend on the fans and are returned unchanged.
    """
    if not isinstance(initializer, keras.initializers.VarianceScaling):
        return initializer
    return keras.initializers.VarianceScaling(
        scale=initializer.scale * channels,
        mode=initializer.mode,
        distribution=initializer.distribution,
        seed=initializer.seed,
    )
