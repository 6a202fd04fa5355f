"""Contextual attention (Yu et al., CVPR 2018), batched, one mask per sample."""

import keras
import tensorflow as tf

try:  # private: how TensorFlow's own ops pick their XLA variants (see `_in_xla_context`)
    from tensorflow.python.ops.control_flow_util import (
        GraphOrParentsInXlaContext as _xla_context_reader,
    )
except ImportError:  # pragma: no cover - a TensorFlow without it
    _xla_context_reader = None

from keras_inpaint.arguments import is_finite_number
from keras_inpaint.layers.flow_colors import flow_to_color
from keras_inpaint.layers.padding import pad_like_same
from keras_inpaint.layers.shape_checks import check_same_dims

PATCH_NORM_FLOOR = 1e-4
"""Background patches are divided by max(l2 norm, this), as in the authors' code."""

REFERENCE_PASTE_DIVISOR = 4.0
"""The authors divide the pasted patches by this fixed number (paste_normalization="reference")."""

PASTE_NORMALIZATIONS = ("reference", "overlap")


@keras.saving.register_keras_serializable(package="keras_inpaint")
class ContextualAttention(keras.layers.Layer):
    """Contextual attention: fill the foreground with background patches that match it.

    Yu et al.'s layer, reproducing their reference code (`contextual_attention` in
    `inpaint_ops.py`, DeepFill v1 and v2) exactly, but vectorised over the batch and with one
    mask per sample (their code loops over the samples in Python and applies the first
    sample's mask to the whole batch).

    With r = `rate`, k = `patch_size`, s = `stride`, and every step done per sample:

    1. Raw patches: the 2r x 2r patches of the full-resolution background, taken every r*s
       pixels with TF "SAME" zero padding (top/left padding r // 2).
    2. Foreground, background and mask are downsampled by r with nearest neighbour
       (`resize_align_corners`, below) to h x w = H/r x W/r.
    3. Matching: every k x k patch b_n of the downsampled background (zero padded, centred,
       every s positions; n runs over the hb x wb patch grid) is normalised,
       b_n / max(||b_n||_2, 1e-4), and correlated with the zero-padded k x k foreground patch
       f_p centred on every position p: S[p, n] = <f_p, b_n / max(||b_n||, 1e-4)>.
    4. Fuse (encourages coherent copies of larger areas): with the fuse size k_f, view S as a
       [h*w, hb*wb] matrix with both index sets flattened row-major and convolve it with the
       k_f x k_f identity kernel (zero padded), S[p, n] <- sum_d S[p + d, n + d]; then the same
       with both index sets flattened column-major. k_f = 1 leaves S unchanged.
    5. Usable patches: u_n = 1 if the zero-padded downsampled mask is 0 over the whole window
       of patch n (its mean is 0), else 0. Attention A = u * softmax_n(softmax_scale * (u * S)):
       unusable patches enter the softmax with logit 0 (not minus infinity, as in the authors'
       code; it never makes NaN) and get attention 0 afterwards. A sample whose mask is all
       holes gets A = 0 and an output of 0.
    6. Paste: every downsampled foreground position p adds sum_n A[p, n] * raw_n at stride r
       (a transposed convolution with the raw patches as kernel, TF "SAME" geometry), and the
       sum is divided by 4 (`paste_normalization`, below).

    Scores, softmax and pasting are computed in float32; the output is cast to the compute
    dtype. The layer has no weights; gradients flow to foreground and background.

    `paste_normalization`: the authors divide by a fixed 4 = (2r / r)^2, the number of pastes
    that overlap an interior pixel. That is a mistake of the reference code: at
    the top/left (r = 1) or all (r > 1) borders fewer patches overlap, so border pixels come out
    darker. "reference" (default) keeps the fixed 4, which trained checkpoints of the authors
    expect; "overlap" divides each pixel by the true number of pastes covering it, so that
    attending to one's own position copies the background exactly, borders included.

    `resize_align_corners`: False (default) downsamples by picking every r-th pixel
    (x[:, ::r, ::r], which is also what TF1's `resize_nearest_neighbor` does without
    align_corners). True reproduces TF1's `resize_nearest_neighbor(..., align_corners=True)`
    that the authors' code uses: output index i reads input index
    round(i * (n_in - 1) / (n_out - 1)) (float32, halves rounded away from zero), which is not
    every r-th pixel (8 -> 4 reads 0, 2, 5, 7). Converted checkpoints of the authors need True.

    Height and width must be divisible by `rate` (the authors' code breaks otherwise: its
    downsampled size int(H / r) disagrees with the ceil(H / r) raw patches). A ValueError says
    so when the sizes are known when the layer is called; with sizes unknown until run time
    (a `tf.function` traced with None dimensions) a TF assertion fails at run time instead
    (InvalidArgumentError; XLA ignores assertions, and a non-divisible size then fails on a
    shape mismatch). Inputs whose shapes disagree (below) are refused the same way.

    `stride` > 1 is a generalisation (the authors' code fails there, its fuse step assumes one
    background patch per position): the fuse runs on the [h*w, hb*wb] matrix as in step 4 and
    the flow offset of patch n is s times its grid position.

    Shapes (NHWC):
        foreground, background: [B, H, W, C], same shape, H and W divisible by `rate`.
        mask: [B, H, W, 1], 1 = hole, one per sample (None: no holes).
        output y: [B, H, W, C], compute dtype.
        flow (`return_flow=True`): [B, H/r, W/r, 3] in [0, 1], compute dtype: the offsets
            (row, column) from each downsampled foreground position to the patch it attends
            to most (argmax of A; all-zero attention counts as patch 0), in downsampled pixels,
            coloured by `flow_to_color` (the pictures of the paper's figure 5; the authors
            upsample them bilinearly by r, resize yourself if you want that).

    Args:
        patch_size: k, side of the matched patches (3 in the paper).
        stride: s, step between background patches, in downsampled pixels.
        rate: r, downsampling factor for matching; pasted patches are 2r x 2r.
        fuse_size: k_f, size of the identity kernel of the fuse step (1 = no fuse).
        softmax_scale: the scale lambda of the scaled softmax (10 in the paper), finite and > 0.
        return_flow: also return the colour-coded attention offsets.
        paste_normalization: "reference" (divide by 4) or "overlap" (divide by the number of
            overlapping pastes per pixel).
        resize_align_corners: nearest downsampling as TF1 with align_corners=True (True) or
            every r-th pixel (False).
        **kwargs: base layer arguments (name, dtype, ...).

    Example:
    >>> layer = ContextualAttention(rate=2)
    >>> x = keras.random.uniform((2, 16, 16, 8))
    >>> mask = keras.ops.zeros((2, 16, 16, 1))
    >>> layer(x, x, mask).shape
    TensorShape([2, 16, 16, 8])

    Reference: Yu, Lin, Yang, Shen, Lu, Huang, "Generative Image Inpainting with Contextual
    Attention", CVPR 2018, section 4.1 (and "Free-Form Image Inpainting with Gated
    Convolution", ICCV 2019, which reuses the layer).
    """

    def __init__(
        self,
        patch_size=3,
        stride=1,
        rate=2,
        fuse_size=3,
        softmax_scale=10.0,
        return_flow=False,
        paste_normalization="reference",
        resize_align_corners=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        for name, value in (
            ("patch_size", patch_size),
            ("stride", stride),
            ("rate", rate),
            ("fuse_size", fuse_size),
        ):
            if not is_finite_number(value, integer=True) or value < 1:
                raise ValueError(f"{name} must be a positive integer, received {value!r}")
        if paste_normalization not in PASTE_NORMALIZATIONS:
            raise ValueError(
                f"paste_normalization must be one of {PASTE_NORMALIZATIONS}, "
                f"received {paste_normalization!r}"
            )
        # NaN, infinite, zero or negative scales give NaN, uniform or inverted attention.
        if not (is_finite_number(softmax_scale) and softmax_scale > 0):
            raise ValueError(
                f"softmax_scale must be a finite number > 0, received {softmax_scale!r}"
            )
        self.patch_size = int(patch_size)
        self.stride = int(stride)
        self.rate = int(rate)
        self.fuse_size = int(fuse_size)
        self.softmax_scale = float(softmax_scale)
        self.return_flow = return_flow
        self.paste_normalization = paste_normalization
        self.resize_align_corners = resize_align_corners

    def call(self, foreground, background, mask=None):
        foreground, background, mask = self._check_inputs(foreground, background, mask)
        rate, stride = self.rate, self.stride
        foreground = tf.cast(foreground, "float32")
        background = tf.cast(background, "float32")
        if mask is None:
            mask = tf.zeros_like(foreground[..., :1])
        mask = tf.cast(mask, "float32")
        shape = tf.shape(foreground)
        height, width = shape[1], shape[2]
        channels = foreground.shape[-1]

        raw_patches = _flatten_grid(_extract_patches(background, 2 * rate, rate * stride))
        small_foreground, small_background, small_mask = (
            self._downsample(x) for x in (foreground, background, mask)
        )
        small_height, small_width = height // rate, width // rate

        patches = _extract_patches(small_background, self.patch_size, stride)
        grid_height, grid_width = tf.shape(patches)[1], tf.shape(patches)[2]
        patches = _flatten_grid(patches)
        # max(||b||, floor) as sqrt(max(||b||^2, floor^2)): same values, but the gradient of
        # an all-zero patch is 0 rather than 0 * inf = NaN (XLA does not guard sqrt's gradient).
        squared_norms = tf.reduce_sum(tf.square(patches), axis=-1, keepdims=True)
        patches = patches / tf.sqrt(tf.maximum(squared_norms, PATCH_NORM_FLOOR**2))
        queries = _flatten_grid(_extract_patches(small_foreground, self.patch_size, 1))
        scores = tf.einsum("bpk,bnk->bpn", queries, patches)
        scores = _fuse_scores(
            scores, self.fuse_size, (small_height, small_width), (grid_height, grid_width)
        )

        mask_windows = _flatten_grid(_extract_patches(small_mask, self.patch_size, stride))
        usable = tf.cast(tf.reduce_mean(mask_windows, axis=-1) == 0.0, "float32")[:, None, :]
        attention = usable * tf.nn.softmax(self.softmax_scale * (usable * scores), axis=-1)

        pasted = tf.einsum("bpn,bnk->bpk", attention, raw_patches)
        size = 2 * rate
        pasted = tf.reshape(pasted, [-1, small_height, small_width, size, size, channels])
        outputs = _fold_patches(pasted, rate) / self._paste_divisor(small_height, small_width)
        outputs = tf.cast(outputs, self.compute_dtype)
        outputs.set_shape(foreground.shape)
        if not self.return_flow:
            return outputs
        flow = self._flow(attention, (small_height, small_width), grid_width)
        return outputs, tf.cast(flow, self.compute_dtype)

    def compute_mask(self, inputs, previous_mask):
        """None: `mask` is this layer's input (1 = hole), not a Keras mask to pass on. Keras
        treats a `mask` argument as one and warned, on `layer(f, b, mask=holes)`, that the layer
        "will destroy the mask information"."""
        return None

    def compute_output_spec(self, foreground, background, mask=None):
        """The outputs' shapes in a functional model, after `_check_inputs`, so that bad shapes
        are refused there with this layer's own message."""
        self._check_inputs(foreground, background, mask)
        shapes = self.compute_output_shape(foreground.shape)
        if not self.return_flow:
            return keras.KerasTensor(shapes, dtype=self.compute_dtype)
        return tuple(keras.KerasTensor(shape, dtype=self.compute_dtype) for shape in shapes)

    def compute_output_shape(self, foreground_shape, background_shape=None, mask_shape=None):
        """The output's shape, that of the foreground, and with `return_flow` the flow's,
        `[B, H/r, W/r, 3]`."""
        foreground_shape = tuple(foreground_shape)
        if not self.return_flow:
            return foreground_shape
        batch, height, width, _ = foreground_shape
        small = [None if size is None else size // self.rate for size in (height, width)]
        return foreground_shape, (batch, *small, 3)

    def _check_inputs(self, foreground, background, mask):
        """Raise ValueError on shapes that cannot work; return the inputs, behind run-time
        checks of the sizes unknown until then (see `check_same_dims`)."""
        for name, tensor in (("foreground", foreground), ("background", background)):
            if len(tensor.shape) != 4:
                raise ValueError(
                    f"{name} must have rank 4 [batch, height, width, channels], "
                    f"received shape {tuple(tensor.shape)}"
                )
        if foreground.shape[-1] is None:
            raise ValueError(
                "foreground must have a known number of channels, "
                f"received shape {tuple(foreground.shape)}"
            )
        background = check_same_dims(
            background,
            foreground,
            4,
            "foreground and background must have the same shape, received shapes "
            f"{tuple(foreground.shape)} and {tuple(background.shape)}",
        )
        if mask is not None:
            if len(mask.shape) != 4 or mask.shape[-1] not in (1, None):
                raise ValueError(
                    "mask must have shape [batch, height, width, 1] (1 = hole), "
                    f"received shape {tuple(mask.shape)}"
                )
            mask = check_same_dims(
                mask,
                foreground,
                3,
                "mask must match the batch, height and width of foreground "
                f"{tuple(foreground.shape)}, received shape {tuple(mask.shape)}",
            )
        sizes = foreground.shape[1:3]
        if any(size is not None and size % self.rate for size in sizes):
            raise ValueError(
                f"height and width must be divisible by rate={self.rate}, "
                f"received shape {tuple(foreground.shape)}"
            )
        if any(size is None for size in sizes) and not isinstance(foreground, keras.KerasTensor):
            divisible = tf.debugging.assert_equal(
                tf.shape(foreground)[1:3] % self.rate,
                0,
                message=f"height and width must be divisible by rate={self.rate}",
            )
            with tf.control_dependencies([divisible]):
                foreground = tf.identity(foreground)
        return foreground, background, mask

    def _downsample(self, images):
        if self.rate == 1:
            return images
        if not self.resize_align_corners:
            return images[:, :: self.rate, :: self.rate, :]
        # A gather rather than TF's ResizeNearestNeighbor op: that op's gradient has no XLA
        # kernel, so it would break jit-compiled training.
        shape = tf.shape(images)
        for axis, size in ((1, shape[1]), (2, shape[2])):
            images = tf.gather(images, _align_corners_indices(size, size // self.rate), axis=axis)
        return images

    def _paste_divisor(self, small_height, small_width):
        if self.paste_normalization == "reference":
            return REFERENCE_PASTE_DIVISOR
        size = 2 * self.rate
        ones = tf.ones([1, small_height, small_width, size, size, 1])
        return _fold_patches(ones, self.rate)

    def _flow(self, attention, small_size, grid_width):
        best = tf.argmax(attention, axis=-1, output_type="int32")
        target = self.stride * tf.stack([best // grid_width, best % grid_width], axis=-1)
        rows, columns = tf.meshgrid(
            tf.range(small_size[0]), tf.range(small_size[1]), indexing="ij"
        )
        position = tf.reshape(tf.stack([rows, columns], axis=-1), [1, -1, 2])
        offsets = tf.reshape(target - position, [-1, small_size[0], small_size[1], 2])
        return flow_to_color(offsets)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "patch_size": self.patch_size,
                "stride": self.stride,
                "rate": self.rate,
                "fuse_size": self.fuse_size,
                "softmax_scale": self.softmax_scale,
                "return_flow": self.return_flow,
                "paste_normalization": self.paste_normalization,
                "resize_align_corners": self.resize_align_corners,
            }
        )
        return config


def _extract_patches(images, size, stride):
    """[B, H, W, C] -> [B, ceil(H/stride), ceil(W/stride), size*size*C], zero "SAME" padding.

    Patch entries are ordered (row, column, channel). Traced for XLA (see `_in_xla_context`),
    strided slices of the padded images, stacked: XLA compiles TF's ExtractImagePatches as a
    convolution with a [size, size, C, size*size*C] one-hot kernel, far slower on this
    project's CPU than the slices (see `_diagonal_sum` for what the two changes gained).
    """
    if not _in_xla_context():
        return tf.image.extract_patches(
            images,
            sizes=[1, size, size, 1],
            strides=[1, stride, stride, 1],
            rates=[1, 1, 1, 1],
            padding="SAME",
        )
    shape = tf.shape(images)
    out_height, out_width = -(-shape[1] // stride), -(-shape[2] // stride)
    padded = pad_like_same(images, (size, size), (stride, stride), mode="constant")
    windows = [
        padded[
            :,
            row : row + (out_height - 1) * stride + 1 : stride,
            column : column + (out_width - 1) * stride + 1 : stride,
        ]
        for row in range(size)
        for column in range(size)
    ]
    patches = tf.stack(windows, axis=-2)
    channels = images.shape[-1] or shape[3]
    return tf.reshape(patches, [shape[0], out_height, out_width, size * size * channels])


def _flatten_grid(patches):
    """[B, h, w, K] -> [B, h*w, K], positions in row-major order."""
    shape = tf.shape(patches)
    return tf.reshape(patches, [shape[0], shape[1] * shape[2], patches.shape[-1] or shape[3]])


def _align_corners_indices(input_size, output_size):
    """Source indices of TF1 `resize_nearest_neighbor(align_corners=True)` along one axis.

    index_i = round_half_away(float32(i) * float32((n_in - 1) / (n_out - 1))), clipped to
    n_in - 1, computed in float32 like TF's kernel (a single output reads index 0).
    """
    scale = tf.cast(input_size - 1, "float32") / tf.cast(tf.maximum(output_size - 1, 1), "float32")
    position = tf.cast(tf.range(output_size), "float32") * scale
    lower = tf.floor(position)
    rounded = tf.where(position - lower >= 0.5, lower + 1.0, lower)
    return tf.minimum(tf.cast(rounded, "int32"), input_size - 1)


def _diagonal_sum(matrix, fuse_size):
    """[B, P, N] -> sum_d matrix[:, p + d, n + d]: 2-D convolution with an identity kernel.

    d runs over -(fuse_size - 1) // 2 .. fuse_size // 2 (TF "SAME" placement), zeros outside.
    Traced for XLA (see `_in_xla_context`), the sum of shifted slices of the zero-padded
    matrix; otherwise a one-channel convolution, which XLA compiles to something far slower
    on this project's CPU (with both changes of this module, the layer's XLA forward pass in
    `benchmarks/contextual_attention_speed.py` went from 596 to 272 ms).
    """
    if not _in_xla_context():
        kernel = tf.reshape(tf.eye(fuse_size), [fuse_size, fuse_size, 1, 1])
        return tf.nn.conv2d(matrix[..., None], kernel, strides=1, padding="SAME")[..., 0]
    before, after = (fuse_size - 1) // 2, fuse_size // 2
    shape = tf.shape(matrix)
    padded = tf.pad(matrix, [[0, 0], [before, after], [before, after]])
    total = padded[:, : shape[1], : shape[2]]
    for shift in range(1, fuse_size):
        total += padded[:, shift : shift + shape[1], shift : shift + shape[2]]
    return total


def _in_xla_context():
    """True while a `jit_compile=True` function (Keras' `jit_compile`, `keras-inpaint train
    --jit-compile`) is being traced; False eagerly, in graph mode, and where TensorFlow does not
    have the private helper this reads (the layer is then right, only slower under XLA).

    The choice is made when a function is traced: a `tf.function` traced outside XLA and
    called later inside a jit-compiled one keeps its first trace (the convolution and TF's
    patch extraction, which XLA compiles, slowly). XLA auto-clustering
    (`tf.config.optimizer.set_jit`) is not seen either. Both paths compute the same values
    with ordinary TF ops, so a SavedModel never depends on the choice.
    """
    if _xla_context_reader is None:
        return False
    return _xla_context_reader(tf.compat.v1.get_default_graph())


def _transpose_grids(scores, query_size, grid_size):
    """Reorder [B, P, N] from row-major to column-major positions (and back, swapping sizes)."""
    grids = tf.reshape(scores, [-1, query_size[0], query_size[1], grid_size[0], grid_size[1]])
    grids = tf.transpose(grids, [0, 2, 1, 4, 3])
    return tf.reshape(grids, [-1, query_size[0] * query_size[1], grid_size[0] * grid_size[1]])


def _fuse_scores(scores, fuse_size, query_size, grid_size):
    """The fuse step: identity-kernel convolution in row-major, then column-major order."""
    if fuse_size == 1:
        return scores
    scores = _diagonal_sum(scores, fuse_size)
    scores = _transpose_grids(scores, query_size, grid_size)
    scores = _diagonal_sum(scores, fuse_size)
    return _transpose_grids(scores, query_size[::-1], grid_size[::-1])


def _fold_patches(patches, rate):
    """Sum 2r x 2r patches pasted every r pixels, as TF's conv2d_transpose with "SAME".

    [B, h, w, 2r, 2r, C] -> [B, h*r, w*r, C]. Patch (i, j) covers rows i*r - r//2 ..
    i*r - r//2 + 2r - 1 (and likewise columns); each r x r quarter of the patches tiles a
    canvas one block larger than the output without overlap, offset by 0 or r.
    """
    shape = tf.shape(patches)
    batch, height, width = shape[0], shape[1], shape[2]
    channels = patches.shape[-1] or shape[5]
    canvas = 0.0
    for row_block in (0, 1):
        for column_block in (0, 1):
            quarter = patches[
                :,
                :,
                :,
                row_block * rate : (row_block + 1) * rate,
                column_block * rate : (column_block + 1) * rate,
                :,
            ]
            tiles = tf.reshape(
                tf.transpose(quarter, [0, 1, 3, 2, 4, 5]),
                [batch, height * rate, width * rate, channels],
            )
            padding = [
                [0, 0],
                [row_block * rate, (1 - row_block) * rate],
                [column_block * rate, (1 - column_block) * rate],
                [0, 0],
            ]
            canvas += tf.pad(tiles, padding)
    offset = rate // 2
    return canvas[:, offset : offset + height * rate, offset : offset + width * rate, :]
