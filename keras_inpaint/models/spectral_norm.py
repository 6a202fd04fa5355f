"""Spectral normalisation applied at every forward pass, as DeepFill v2's reference code does."""

import keras
from keras import ops

DEFAULT_EPSILON = 1e-12
"""The authors' ``l2_norm`` epsilon, added to the vector norms."""


@keras.saving.register_keras_serializable(package="keras_inpaint")
class SpectralNorm(keras.layers.Wrapper):
    """Spectral normalisation of a convolution, recomputed at every forward pass.

    Miyato et al.'s spectral normalisation divides the kernel W by an estimate of its largest
    singular value sigma, obtained with the power method from a persistent vector u. With
    ``W_m = reshape(W, [-1, filters])`` and ``l2n(x) = x / (||x||_2 + epsilon)``, one
    iteration (repeated `power_iterations` times) and the normalised convolution are

        v = l2n(u W_m^T),  u' = l2n(v W_m),  sigma = v W_m u'^T
        y = conv(x, W / max(sigma, epsilon)) + b

    and ``u <- u'`` in training mode. This is the computation of the authors' DeepFill v2
    (neuralgym's ``kernel_spectral_norm``, used by every SN-PatchGAN convolution), with two
    choices made explicit:

    - W / sigma is computed from the stored kernel at every call, in training and at
      inference, and gradients flow through sigma, u' and v (the authors' graph has no stop
      gradient). `keras.layers.SpectralNormalization` instead writes W / sigma back into the
      kernel in training mode, stops the gradient at u and v and uses the stored kernel as is
      at inference, so a kernel converted from the authors' checkpoints (never normalised in
      place) must go through this layer.
    - u is updated only in training mode (the authors' graph also updated it at inference, so
      their inference outputs drift with every call; here repeated inference calls agree).
      sigma is floored at `epsilon` so that an all-zero kernel stays zero instead of NaN.

    u is initialised from a standard truncated normal, like the authors'. Every norm and the
    division run in float32; the convolution runs in the wrapped layer's compute dtype (under
    ``mixed_float16`` give the wrapper ``dtype="float32"``, as `build_sn_patch_gan` does).

    Shapes: those of the wrapped convolution (NHWC), e.g. [B, H, W, C_in] ->
    [B, H', W', filters]. Weights: the wrapped layer's ``kernel`` and ``bias`` (as
    ``<name>/<inner name>/kernel``) and the non-trainable ``vector_u`` [1, filters], the same
    layout as `keras.layers.SpectralNormalization`.

    Args:
        layer: a Keras convolution layer (``Conv1D``/``Conv2D``/``Conv3D``, channels last).
        power_iterations: power-method iterations per call (1, as the authors).
        epsilon: added to the vector norms and lower bound of sigma (1e-12, as the authors).
        **kwargs: base layer arguments (``name``, ``dtype``, ...).

    Example:
    >>> layer = SpectralNorm(keras.layers.Conv2D(8, 5, strides=2, padding="same"))
    >>> layer(np.random.rand(2, 32, 32, 4).astype("float32"), training=True).shape
    TensorShape([2, 16, 16, 8])

    Reference: T. Miyato, T. Kataoka, M. Koyama, Y. Yoshida, "Spectral Normalization for
    Generative Adversarial Networks", ICLR 2018 (arXiv:1802.05957); J. Yu et al., "Free-Form
    Image Inpainting with Gated Convolution", ICCV 2019 (arXiv:1806.03589), section 3.2.
    """

    def __init__(self, layer, power_iterations=1, epsilon=DEFAULT_EPSILON, **kwargs):
        # The kernel and u are read in float32 whatever the policy: no autocasting in `call`.
        super().__init__(layer, autocast=False, **kwargs)
        if not hasattr(layer, "convolution_op"):
            raise ValueError(
                "SpectralNorm wraps a Keras convolution layer (Conv1D, Conv2D, Conv3D), "
                f"received {type(layer).__name__}"
            )
        if getattr(layer, "data_format", "channels_last") != "channels_last":
            raise ValueError(
                "SpectralNorm expects a channels_last convolution, received data_format="
                f"{layer.data_format!r}"
            )
        if isinstance(power_iterations, bool) or not isinstance(power_iterations, int) or (
            power_iterations < 1
        ):
            raise ValueError(
                f"power_iterations must be a positive int, received {power_iterations!r}"
            )
        self.power_iterations = power_iterations
        self.epsilon = epsilon

    def build(self, input_shape):
        super().build(input_shape)
        self.vector_u = self.add_weight(
            shape=(1, self.layer.filters),
            initializer=keras.initializers.TruncatedNormal(stddev=1.0),
            trainable=False,
            name="vector_u",
            dtype="float32",
        )

    def normalized_kernel(self):
        """``(W / sigma, u')``, float32, from the current kernel and u (see class docstring)."""
        kernel = ops.cast(self.layer.kernel, "float32")
        matrix = ops.reshape(kernel, (-1, kernel.shape[-1]))
        vector_u = ops.cast(self.vector_u, "float32")
        for _ in range(self.power_iterations):
            vector_v = self._l2_normalize(ops.matmul(vector_u, ops.transpose(matrix)))
            vector_u = self._l2_normalize(ops.matmul(vector_v, matrix))
        sigma = ops.matmul(ops.matmul(vector_v, matrix), ops.transpose(vector_u))
        return kernel / ops.maximum(sigma, self.epsilon), vector_u

    def _l2_normalize(self, x):
        return x / (ops.sqrt(ops.sum(ops.square(x))) + self.epsilon)

    def call(self, inputs, training=False):
        kernel, vector_u = self.normalized_kernel()
        if training:
            self.vector_u.assign(ops.stop_gradient(vector_u))
        layer = self.layer
        dtype = layer.compute_dtype
        outputs = layer.convolution_op(ops.cast(inputs, dtype), ops.cast(kernel, dtype))
        if layer.use_bias:
            outputs = ops.add(outputs, ops.cast(layer.bias, dtype))
        if layer.activation is not None:
            outputs = layer.activation(outputs)
        return outputs

    def compute_output_shape(self, input_shape):
        return self.layer.compute_output_shape(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update({"power_iterations": self.power_iterations, "epsilon": self.epsilon})
        return config
