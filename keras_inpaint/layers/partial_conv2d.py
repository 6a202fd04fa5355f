"""Partial convolution (Liu et al. 2018)."""

import keras
from keras import ops

from keras_inpaint.layers.shape_checks import check_known_channels, check_same_dims

FIXED_ARGUMENTS = ("activation", "data_format", "groups")
"""`keras.layers.Conv2D` arguments this layer sets itself (no activation: the output is the
renormalised convolution; channels last; one group)."""

MASK_COMPUTE_DTYPE = "float32"


@keras.saving.register_keras_serializable(package="keras_inpaint")
class PartialConv2D(keras.layers.Conv2D):
    """2D partial convolution with mask update (Liu et al. 2018).

    Mask convention: **1 = valid (known) pixel, 0 = hole**, as in the paper. (Public entry points
    of keras_inpaint take 1 = hole; a model built on this layer passes `1 - hole_mask`.)

    For each output position with window `X` of the input, `M` of the mask and kernel `W`:

        y = W^T (X * M) * sum(1) / sum(M) + b    if sum(M) > 0
        y = 0                                    otherwise (exactly 0, not the bias)
        new_mask = 1 if sum(M) > 0 else 0

    `sum(1)` is the window size `kh * kw` (times `C_in` when `multi_channel=True`, where the mask
    has one channel per input channel and `sum(M)` runs over the channels too). Zero padding
    ("same") counts as invalid, so border outputs are renormalised as well ("partial convolution
    based padding"). Called without a mask, every pixel is valid. With an all-ones mask and
    `padding="valid"` the layer equals `keras.layers.Conv2D` with the same weights.

    The mask path (box sum, ratio, new mask) runs in float32 whatever the dtype policy: the
    window counts are exact integers, the ratio has no epsilon (it is `sum(1) / sum(M)` where
    `sum(M) > 0` and 0 elsewhere) and the rescaling by it is done in float32, so nothing
    underflows or overflows under `mixed_float16`. Outputs are in the compute dtype.

    Args:
        filters: number of output channels.
        kernel_size, strides, dilation_rate: int or pair of ints, as in `keras.layers.Conv2D`
            (strides > 1 together with dilation > 1 is not supported).
        padding: `"same"` (zero padding, counted as invalid) or `"valid"`.
        use_bias: add the bias `b` on windows holding a valid pixel.
        multi_channel: the mask has `C_in` channels (one per input channel) and `new_mask` has
            `filters` channels (all equal); otherwise the mask and `new_mask` have 1 channel.
        kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer,
        kernel_constraint, bias_constraint: as in `keras.layers.Conv2D`.
        **kwargs: base layer arguments (`name`, `dtype`, `activity_regularizer`, ...).

    Weights: `kernel` `[kh, kw, C_in, filters]` and `bias` `[filters]`, as in `Conv2D`.

    Call arguments:
        inputs: `x`, float tensor `[B, H, W, C_in]`, `C_in` known (H and W may be None).
        mask: optional `[B, H, W, 1]` (or `[B, H, W, C_in]` with `multi_channel=True`), 1 = valid;
            float, int or bool (cast). A `[B, H, W]` mask is taken for every channel: so is a
            Keras mask that comes with `x` (`keras.layers.Masking(0.0)` before this layer makes
            the pixels whose channels are all 0 holes).

    Returns:
        `(y, new_mask)`: `[B, H', W', filters]` and `[B, H', W', 1]` (`[B, H', W', filters]` with
        `multi_channel=True`), both in the compute dtype; `H' = ceil(H / stride)` for "same",
        `floor((H - (kh - 1) * dilation - 1) / stride) + 1` for "valid". Two outputs (and a
        mask input) are more than `keras.layers.TimeDistributed` handles: for frames `[B, T, H,
        W, C]`, reshape them and their masks to `[B * T, H, W, C]` around the layer.

    Example:
    >>> x = np.random.rand(2, 32, 32, 3).astype("float32")
    >>> valid = np.ones((2, 32, 32, 1), "float32"); valid[:, 8:20, 8:20] = 0
    >>> y, new_mask = PartialConv2D(16, 3, strides=2)(x, valid)
    >>> y.shape, new_mask.shape
    (TensorShape([2, 16, 16, 16]), TensorShape([2, 16, 16, 1]))

    Reference: G. Liu, F. A. Reda, K. J. Shih, T.-C. Wang, A. Tao, B. Catanzaro, "Image
    Inpainting for Irregular Holes Using Partial Convolutions", ECCV 2018 (arXiv:1804.07723).
    """

    def __init__(
        self,
        filters,
        kernel_size,
        strides=1,
        padding="same",
        dilation_rate=1,
        use_bias=True,
        multi_channel=False,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        **kwargs,
    ):
        fixed = sorted(set(kwargs) & set(FIXED_ARGUMENTS))
        if fixed:
            raise TypeError(
                f"PartialConv2D fixes {', '.join(FIXED_ARGUMENTS)} (mask renormalisation needs "
                f"the raw convolution, channels last, one group), received {', '.join(fixed)}: "
                "apply an activation to its output instead"
            )
        super().__init__(
            filters=filters,
            kernel_size=kernel_size,
            strides=strides,
            padding=padding,
            data_format="channels_last",
            dilation_rate=dilation_rate,
            groups=1,
            activation=None,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer,
            bias_regularizer=bias_regularizer,
            kernel_constraint=kernel_constraint,
            bias_constraint=bias_constraint,
            **kwargs,
        )
        self.multi_channel = multi_channel
        self.input_spec = keras.layers.InputSpec(ndim=4)

    def build(self, input_shape):
        check_known_channels(self, input_shape)
        super().build(input_shape)
        self.input_spec = keras.layers.InputSpec(ndim=4, axes={-1: input_shape[-1]})

    def _check_shapes(self, x, mask):
        """Raise ValueError on shapes that cannot work; return `mask` (checked at run time where
        its batch, height or width is unknown before, see `check_same_dims`)."""
        x_shape = tuple(x.shape)
        if len(x_shape) != 4:
            raise ValueError(
                "PartialConv2D expects x of rank 4 (batch, height, width, channels), "
                f"received shape {x_shape}"
            )
        if mask is None:
            return None
        received = tuple(mask.shape)
        if len(received) == 3:  # a Keras mask (`Masking`'s): True = valid, for every channel
            mask = ops.expand_dims(mask, -1)
            if self.multi_channel and x_shape[-1] is not None:
                mask = ops.repeat(mask, x_shape[-1], axis=-1)
        mask_shape = tuple(mask.shape)
        if len(mask_shape) != 4:
            raise ValueError(
                "mask must have rank 4 (batch, height, width, channels) or 3 (a Keras mask: "
                f"batch, height, width), received shape {received}"
            )
        message = (
            f"mask must have the batch, height and width of x {x_shape}, "
            f"received shape {received}"
        )
        mask = check_same_dims(mask, x, 3, message)
        channels = x_shape[-1] if self.multi_channel else 1
        if mask_shape[-1] is not None and channels is not None and mask_shape[-1] != channels:
            raise ValueError(
                f"mask must have {channels} channel{'s' if channels != 1 else ''}, "
                f"received shape {received} (multi_channel={self.multi_channel})"
            )
        return mask

    def _window_size(self, input_channels):
        """`sum(1)`: the number of mask entries in one window."""
        kernel_height, kernel_width = self.kernel_size
        window = kernel_height * kernel_width
        return window * input_channels if self.multi_channel else window

    def _mask_window_sum(self, mask):
        """`sum(M)` for every output window: a one-channel box sum with a ones kernel."""
        if self.multi_channel:
            mask = ops.sum(mask, axis=-1, keepdims=True)
        ones_kernel = ops.ones(self.kernel_size + (1, 1), dtype=MASK_COMPUTE_DTYPE)
        return self.convolution_op(mask, ones_kernel)

    def call(self, inputs, mask=None):
        mask = self._check_shapes(inputs, mask)
        if mask is None:
            mask_like = inputs if self.multi_channel else inputs[..., :1]
            mask = ops.ones_like(mask_like, dtype=MASK_COMPUTE_DTYPE)
        mask = ops.cast(mask, MASK_COMPUTE_DTYPE)

        window_sum = self._mask_window_sum(mask)
        new_mask = ops.cast(ops.greater(window_sum, 0), MASK_COMPUTE_DTYPE)
        ratio = ops.divide_no_nan(
            ops.cast(self._window_size(inputs.shape[-1]), MASK_COMPUTE_DTYPE), window_sum
        )

        masked_inputs = inputs * ops.cast(mask, inputs.dtype)
        outputs = ops.cast(self.convolution_op(masked_inputs, self.kernel), MASK_COMPUTE_DTYPE)
        outputs = outputs * ratio
        if self.use_bias:
            outputs = outputs + ops.cast(self.bias, MASK_COMPUTE_DTYPE)
        outputs = outputs * new_mask
        if self.multi_channel:
            new_mask = new_mask * ops.ones((self.filters,), dtype=MASK_COMPUTE_DTYPE)
        return ops.cast(outputs, self.compute_dtype), ops.cast(new_mask, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        output_shape = super().compute_output_shape(input_shape)
        mask_channels = self.filters if self.multi_channel else 1
        return output_shape, tuple(output_shape[:-1]) + (mask_channels,)

    def compute_mask(self, inputs, previous_mask):
        """None: `mask` is this layer's input (1 = valid), not a Keras mask to pass on. Keras
        treats a `mask` argument as one and warned, on `layer(x, mask=valid)`, that the layer
        "will destroy the mask information"."""
        return None

    def compute_output_spec(self, inputs, mask=None):
        self._check_shapes(inputs, mask)
        return super().compute_output_spec(inputs, mask=mask)

    def get_config(self):
        config = super().get_config()
        for fixed_by_this_layer in FIXED_ARGUMENTS:
            config.pop(fixed_by_this_layer)
        config["multi_channel"] = self.multi_channel
        return config
