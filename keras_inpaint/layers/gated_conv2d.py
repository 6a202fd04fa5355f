"""Gated convolution (Yu et al. 2019)."""

import keras
from keras import ops

from keras_inpaint.arguments import is_finite_number
from keras_inpaint.layers.padding import MIRROR_PADDING_MODES
from keras_inpaint.layers.padding import pad_like_same
from keras_inpaint.layers.padding import padded_like_same_shape
from keras_inpaint.layers.padding import standardize_padding
from keras_inpaint.layers.shape_checks import check_known_channels
from keras_inpaint.layers.weight_arguments import weight_arguments_config


@keras.saving.register_keras_serializable(package="keras_inpaint")
class GatedConv2D(keras.layers.Layer):
    """2D gated convolution (Yu et al. 2019, "free-form inpainting", DeepFill v2).

    One convolution with `2 * filters` outputs whose channels are split in half, features first
    and gating second:

        [F, G] = conv(x)                       # F, G: [B, H', W', filters]
        y = activation(F) * sigmoid(G)

    i.e. `activation(W_f * x) * sigmoid(W_g * x)` with both convolutions over the same input.
    Keeping the two kernels in one `[kh, kw, C_in, 2 * filters]` kernel is the layout of the
    authors' DeepFill v2 checkpoints, so their weights load directly (`layer.set_weights([kernel,
    bias])`). `activation=None` leaves the features linear (they are still gated).

    The authors do not gate the 3-channel RGB output convolutions: a `filters=3` output layer
    should be a plain `keras.layers.Conv2D`, not this layer.

    Padding: `"same"` and `"valid"` as in `Conv2D`; `"reflect"` (mirror without repeating the
    edge) and `"symmetric"` (mirror repeating the edge) pad the input by the amounts a "same"
    convolution would use (including TF's placement of the extra pixel for strides > 1, see
    `keras_inpaint.layers.padding.pad_like_same`) and then convolve with "valid", so the output
    size is that of "same". DeepFill v1 describes mirror padding.

    Args:
        filters: number of output channels (the kernel has `2 * filters`).
        kernel_size, strides, dilation_rate: int or pair of ints, as in `keras.layers.Conv2D`.
        padding: `"same"`, `"valid"`, `"reflect"` or `"symmetric"`.
        activation: activation of the features (default `"elu"`, as the authors); None = linear.
        use_bias: whether the convolution has a bias `[2 * filters]`.
        kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer,
        kernel_constraint, bias_constraint: as in `keras.layers.Conv2D`, for the joint kernel.
        **kwargs: base layer arguments (`name`, `dtype`, `trainable`, ...); `trainable=False`
            freezes the inner `conv` too, as setting `layer.trainable = False` later does.

    Weights: `kernel` `[kh, kw, C_in, 2 * filters]` and `bias` `[2 * filters]` (features first),
    held by the inner `Conv2D` `conv` and also exposed as `layer.kernel`, `layer.bias`.

    Input shape: `[B, H, W, C_in]`, `C_in` known. Output shape: `[B, H', W', filters]` in the
    compute dtype, `H' = ceil(H / stride)`, or `floor((H - (kh - 1) * dilation - 1) / stride) + 1`
    for "valid".

    Example:
    >>> x = np.random.rand(2, 32, 32, 5).astype("float32")
    >>> GatedConv2D(24, 5, padding="reflect")(x).shape
    TensorShape([2, 32, 32, 24])

    Reference: J. Yu, Z. Lin, J. Yang, X. Shen, X. Lu, T. S. Huang, "Free-Form Image Inpainting
    with Gated Convolution", ICCV 2019 (arXiv:1806.03589).
    """

    def __init__(
        self,
        filters,
        kernel_size,
        strides=1,
        padding="same",
        dilation_rate=1,
        activation="elu",
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
        if not is_finite_number(filters, integer=True) or filters <= 0:
            raise ValueError(f"filters must be a positive int, received filters={filters!r}")
        self.filters = int(filters)
        self.padding = standardize_padding(padding)
        self.activation = keras.activations.get(activation)
        self.use_bias = use_bias
        self.conv = keras.layers.Conv2D(
            filters=2 * filters,
            kernel_size=kernel_size,
            strides=strides,
            padding="valid" if self.padding in MIRROR_PADDING_MODES else self.padding,
            dilation_rate=dilation_rate,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer,
            bias_regularizer=bias_regularizer,
            kernel_constraint=kernel_constraint,
            bias_constraint=bias_constraint,
            dtype=self.dtype_policy,
            trainable=self.trainable,
            name="conv",
        )
        self.kernel_size = self.conv.kernel_size
        self.strides = self.conv.strides
        self.dilation_rate = self.conv.dilation_rate
        self.kernel_initializer = self.conv.kernel_initializer
        self.bias_initializer = self.conv.bias_initializer
        self.kernel_regularizer = self.conv.kernel_regularizer
        self.bias_regularizer = self.conv.bias_regularizer
        self.kernel_constraint = self.conv.kernel_constraint
        self.bias_constraint = self.conv.bias_constraint
        self.input_spec = keras.layers.InputSpec(ndim=4)

    def build(self, input_shape):
        check_known_channels(self, input_shape)
        self.conv.build((None, None, None, input_shape[-1]))
        self.input_spec = keras.layers.InputSpec(ndim=4, axes={-1: input_shape[-1]})

    @property
    def kernel(self):
        """The joint kernel `[kh, kw, C_in, 2 * filters]` (features first, gating second)."""
        return self.conv.kernel

    @property
    def bias(self):
        """The joint bias `[2 * filters]`, or None when `use_bias=False`."""
        return self.conv.bias

    def call(self, inputs):
        if self.padding in MIRROR_PADDING_MODES:
            inputs = pad_like_same(
                inputs, self.kernel_size, self.strides, self.dilation_rate, mode=self.padding
            )
        features, gating = ops.split(self.conv(inputs), 2, axis=-1)
        return self.activation(features) * ops.sigmoid(gating)

    def compute_output_shape(self, input_shape):
        """`[B, H', W', filters]` (what `keras.layers.TimeDistributed` and
        `keras.layers.SpectralNormalization` ask of the layer they wrap); known sides too small
        for mirror padding are refused as in `call`."""
        input_shape = tuple(input_shape)
        if self.padding in MIRROR_PADDING_MODES:
            input_shape = padded_like_same_shape(
                input_shape, self.kernel_size, self.strides, self.dilation_rate, self.padding
            )
        return tuple(self.conv.compute_output_shape(input_shape))[:-1] + (self.filters,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "kernel_size": self.kernel_size,
                "strides": self.strides,
                "padding": self.padding,
                "dilation_rate": self.dilation_rate,
                "activation": keras.activations.serialize(self.activation),
                **weight_arguments_config(self),
            }
        )
        return config
