"""Tests of ContextualAttention against a loop-by-loop NumPy version of Yu et al.'s algorithm."""

import re
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

from layer_harness import run_layer_test

from keras_inpaint.layers import contextual_attention
from keras_inpaint.layers.contextual_attention import ContextualAttention
from keras_inpaint.layers.flow_colors import flow_to_color

# ---------------------------------------------------------------------------------------------
# Independent NumPy reference (float64, explicit loops, one sample at a time).
# ---------------------------------------------------------------------------------------------


def same_padding(size, stride, length):
    """TF "SAME": number of windows and the padding before the first one."""
    count = -(-length // stride)
    total = max((count - 1) * stride + size - length, 0)
    return count, total // 2


def np_patches(image, size, stride):
    """[H, W, C] -> [gh, gw, size, size, C], zero padded, TF "SAME" placement."""
    height, width, channels = image.shape
    grid_h, top = same_padding(size, stride, height)
    grid_w, left = same_padding(size, stride, width)
    out = np.zeros((grid_h, grid_w, size, size, channels))
    for i in range(grid_h):
        for j in range(grid_w):
            for a in range(size):
                for b in range(size):
                    y, x = i * stride - top + a, j * stride - left + b
                    if 0 <= y < height and 0 <= x < width:
                        out[i, j, a, b] = image[y, x]
    return out


def np_tf1_align_corners_index(i, n_in, n_out):
    scale = np.float32(n_in - 1) / np.float32(n_out - 1) if n_out > 1 else np.float32(0)
    return min(int(np.floor(np.float64(np.float32(i) * scale) + 0.5)), n_in - 1)


def np_downsample(image, rate, align_corners):
    if not align_corners:
        return image[::rate, ::rate]
    height, width = image.shape[:2]
    rows = [np_tf1_align_corners_index(i, height, height // rate) for i in range(height // rate)]
    cols = [np_tf1_align_corners_index(j, width, width // rate) for j in range(width // rate)]
    return image[rows][:, cols]


def np_identity_conv(matrix, fuse_size):
    """out[p, n] = sum_d matrix[p + d, n + d], d in -(k-1)//2 .. k//2, zeros outside."""
    rows, cols = matrix.shape
    out = np.zeros_like(matrix)
    for p in range(rows):
        for n in range(cols):
            for d in range(-((fuse_size - 1) // 2), fuse_size // 2 + 1):
                if 0 <= p + d < rows and 0 <= n + d < cols:
                    out[p, n] += matrix[p + d, n + d]
    return out


def column_major_order(height, width):
    """Row-major index of each position, listed in column-major order."""
    return [y * width + x for x in range(width) for y in range(height)]


def np_paste(attention, raw, small_h, small_w, rate, channels):
    """Transposed convolution (TF "SAME", stride r) of the attention with the raw patches."""
    size = 2 * rate
    height, width = small_h * rate, small_w * rate
    _, top = same_padding(size, rate, height)
    out = np.zeros((height, width, channels))
    for p in range(small_h * small_w):
        i, j = divmod(p, small_w)
        patch = np.tensordot(attention[p], raw, axes=1)
        for a in range(size):
            for b in range(size):
                y, x = i * rate - top + a, j * rate - top + b
                if 0 <= y < height and 0 <= x < width:
                    out[y, x] += patch[a, b]
    return out


def np_contextual_attention(
    fg, bg, mask, patch_size, stride, rate, fuse_size, softmax_scale, paste, align_corners
):
    """Yu et al.'s contextual attention for one sample; returns (output, offsets)."""
    channels = fg.shape[-1]
    raw = np_patches(bg, 2 * rate, rate * stride)
    raw = raw.reshape(-1, 2 * rate, 2 * rate, channels)
    f, b, m = (np_downsample(x, rate, align_corners) for x in (fg, bg, mask))
    small_h, small_w = f.shape[:2]
    bg_patches = np_patches(b, patch_size, stride)
    grid_h, grid_w = bg_patches.shape[:2]
    bg_patches = bg_patches.reshape(grid_h * grid_w, -1)
    fg_patches = np_patches(f, patch_size, 1).reshape(small_h * small_w, -1)
    scores = np.zeros((small_h * small_w, grid_h * grid_w))
    for p in range(small_h * small_w):
        for n in range(grid_h * grid_w):
            norm = max(np.sqrt(np.sum(bg_patches[n] ** 2)), 1e-4)
            scores[p, n] = np.sum(fg_patches[p] * bg_patches[n]) / norm
    scores = np_identity_conv(scores, fuse_size)
    fg_order = column_major_order(small_h, small_w)
    bg_order = column_major_order(grid_h, grid_w)
    fused = np_identity_conv(scores[np.ix_(fg_order, bg_order)], fuse_size)
    scores[np.ix_(fg_order, bg_order)] = fused
    mask_windows = np_patches(m, patch_size, stride).reshape(grid_h * grid_w, -1)
    usable = np.array([float(np.mean(window) == 0) for window in mask_windows])
    logits = softmax_scale * scores * usable
    attention = np.exp(logits - logits.max(axis=1, keepdims=True))
    attention = attention / attention.sum(axis=1, keepdims=True) * usable
    out = np_paste(attention, raw, small_h, small_w, rate, channels)
    if paste == "reference":
        out = out / 4.0
    else:
        ones = np.ones((grid_h * grid_w, 2 * rate, 2 * rate, 1))
        out = out / np_paste(np.eye(grid_h * grid_w), ones, small_h, small_w, rate, 1)
    offsets = np.zeros((small_h, small_w, 2))
    for p in range(small_h * small_w):
        i, j = divmod(p, small_w)
        n = int(np.argmax(attention[p]))
        offsets[i, j] = (stride * (n // grid_w) - i, stride * (n % grid_w) - j)
    return out, offsets


def np_color_wheel():
    """Middlebury colour wheel, written out hue by hue from its six ramps."""
    wheel = []
    for k in range(15):
        wheel.append((255, np.floor(255 * k / 15), 0))
    for k in range(6):
        wheel.append((255 - np.floor(255 * k / 6), 255, 0))
    for k in range(4):
        wheel.append((0, 255, np.floor(255 * k / 4)))
    for k in range(11):
        wheel.append((0, 255 - np.floor(255 * k / 11), 255))
    for k in range(13):
        wheel.append((np.floor(255 * k / 13), 0, 255))
    for k in range(6):
        wheel.append((255, 0, 255 - np.floor(255 * k / 6)))
    return np.array(wheel, dtype=np.float64)


def np_flow_to_color(offsets):
    """[h, w, 2] offsets of one sample -> [h, w, 3] picture in [0, 1], per pixel."""
    wheel = np_color_wheel()
    ncols = len(wheel)
    max_rad = np.max(np.sqrt(np.sum(offsets**2, axis=-1)))
    out = np.zeros(offsets.shape[:2] + (3,))
    for i in range(offsets.shape[0]):
        for j in range(offsets.shape[1]):
            u, v = offsets[i, j] / max_rad if max_rad > 0 else (0.0, 0.0)
            rad = np.sqrt(u * u + v * v)
            fk = (np.arctan2(-v, -u) / np.pi + 1) / 2 * (ncols - 1) + 1  # 1-based, as Matlab
            k0 = int(np.floor(fk))
            k1 = k0 + 1 if k0 < ncols else 1
            f = fk - k0
            col = (1 - f) * wheel[k0 - 1] / 255 + f * wheel[k1 - 1] / 255
            col = 1 - rad * (1 - col) if rad <= 1 else col * 0.75
            out[i, j] = np.floor(255 * col) / 255
    return out


# ---------------------------------------------------------------------------------------------


def make_inputs(batch, size, channels, rate, seed=2018):
    rng = np.random.default_rng(seed)
    fg = rng.uniform(size=(batch, size, size, channels)).astype("float32")
    bg = rng.uniform(size=(batch, size, size, channels)).astype("float32")
    mask = np.zeros((batch, size, size, 1), "float32")
    quarter = size // 4
    mask[0, quarter : 3 * quarter, quarter : 2 * quarter + rate] = 1.0  # a rectangular hole
    mask[1] = 1.0  # all holes
    if batch > 2:
        mask[2, -3 * rate :, : 3 * rate] = 1.0  # a hole in a corner
    return fg, bg, mask


REFERENCE_CASES = {
    "rate1_fuse3": dict(rate=1, fuse_size=3),
    "rate1_fuse1": dict(rate=1, fuse_size=1),
    "rate1_fuse2": dict(rate=1, fuse_size=2),  # even: one more diagonal after than before
    "rate1_fuse4": dict(rate=1, fuse_size=4),
    "rate2_fuse3": dict(rate=2, fuse_size=3),
    "rate2_fuse1_align_corners": dict(rate=2, fuse_size=1, resize_align_corners=True),
    "rate2_overlap": dict(rate=2, fuse_size=3, paste_normalization="overlap"),
    "rate1_overlap_patch2": dict(rate=1, patch_size=2, paste_normalization="overlap"),
    "rate1_stride2_fuse3": dict(rate=1, stride=2, fuse_size=3),
    "rate3_align_corners": dict(rate=3, fuse_size=3, resize_align_corners=True),
    # a 1x1 patch grid, smaller than the fuse's reach (the XLA fuse once broke there)
    "rate1_stride8_fuse5": dict(rate=1, stride=8, fuse_size=5),
    "rate1_stride8_fuse4": dict(rate=1, stride=8, fuse_size=4),
}


@pytest.mark.parametrize("jit_compile", [False, True], ids=["eager", "xla"])
@pytest.mark.parametrize("case", sorted(REFERENCE_CASES))
def test_matches_numpy_reference(case, jit_compile):
    """Eagerly and traced for XLA, where the fuse step runs as shifted slices, not a
    convolution."""
    kwargs = dict(return_flow=True, **REFERENCE_CASES[case])
    layer = ContextualAttention(**kwargs)
    rate = layer.rate
    fg, bg, mask = make_inputs(batch=3, size=8 * rate, channels=4, rate=rate)
    call = tf.function(layer.__call__, jit_compile=True) if jit_compile else layer
    y, flow = call(fg, bg, mask)
    assert y.shape == fg.shape
    assert flow.shape == (3, 8, 8, 3)
    for sample in range(3):
        expected, offsets = np_contextual_attention(
            fg[sample].astype("float64"),
            bg[sample].astype("float64"),
            mask[sample],
            layer.patch_size,
            layer.stride,
            rate,
            layer.fuse_size,
            layer.softmax_scale,
            layer.paste_normalization,
            layer.resize_align_corners,
        )
        np.testing.assert_allclose(y[sample], expected, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(
            flow[sample], np_flow_to_color(offsets), rtol=0, atol=1 / 255 + 1e-6
        )
    # The all-hole sample: nothing is usable, attention is zero, so is the output.
    np.testing.assert_array_equal(y[1], np.zeros_like(y[1]))


def test_holes_in_one_sample_do_not_change_another():
    layer = ContextualAttention(rate=2)
    fg, bg, mask = make_inputs(batch=2, size=16, channels=4, rate=2)
    other_mask = mask.copy()
    other_mask[1] = 0.0
    other_mask[1, 2:6, 8:14] = 1.0
    before, after = layer(fg, bg, mask), layer(fg, bg, other_mask)
    np.testing.assert_array_equal(before[0], after[0])
    assert np.max(np.abs(before[1] - after[1])) > 1e-3


def test_no_mask_equals_zero_mask():
    layer = ContextualAttention(rate=2)
    fg, bg, _ = make_inputs(batch=2, size=16, channels=4, rate=2)
    np.testing.assert_array_equal(layer(fg, bg), layer(fg, bg, np.zeros_like(fg[..., :1])))


def test_overlap_normalization_copies_background_with_sharp_attention():
    """Attending only to its own patch, "overlap" gives back the background, borders too;
    "reference" divides every pixel by 4, so borders covered by fewer pastes come out darker."""
    _, bg, _ = make_inputs(batch=2, size=16, channels=4, rate=2)
    sharp = dict(rate=2, fuse_size=1, softmax_scale=1000.0)
    overlap = ContextualAttention(paste_normalization="overlap", **sharp)(bg, bg)
    np.testing.assert_allclose(overlap, bg, atol=1e-5)
    reference = np.asarray(ContextualAttention(**sharp)(bg, bg))
    np.testing.assert_allclose(reference[:, 1:-1, 1:-1], bg[:, 1:-1, 1:-1], atol=1e-5)
    np.testing.assert_allclose(reference[:, 0, 1:-1], bg[:, 0, 1:-1] / 2, atol=1e-5)


@pytest.mark.parametrize("size,rate", [(8, 2), (6, 2), (10, 2), (12, 3), (16, 4), (9, 3), (3, 3)])
def test_align_corners_downsampling_matches_tf1(size, rate):
    images = tf.reshape(tf.range(2 * size * size, dtype="float32"), [2, size, size, 1])
    layer = ContextualAttention(rate=rate, resize_align_corners=True)
    expected = tf.compat.v1.image.resize_nearest_neighbor(
        images, [size // rate, size // rate], align_corners=True
    )
    np.testing.assert_array_equal(layer._downsample(images), expected)
    rows = [np_tf1_align_corners_index(i, size, size // rate) for i in range(size // rate)]
    np.testing.assert_array_equal(expected[0, :, 0, 0], np.asarray(rows) * size)
    strided = ContextualAttention(rate=rate)._downsample(images)
    np.testing.assert_array_equal(strided, images[:, ::rate, ::rate])


def test_flow_picture_shape_range_and_colors():
    layer = ContextualAttention(rate=2, return_flow=True)
    fg, bg, mask = make_inputs(batch=2, size=16, channels=4, rate=2)
    y, flow = layer(fg, bg, mask)
    assert flow.shape == (2, 8, 8, 3)
    assert flow.dtype == y.dtype == tf.float32
    assert 0.0 <= np.min(flow) and np.max(flow) <= 1.0
    offsets = np.random.default_rng(5).integers(-5, 6, size=(2, 5, 7, 2)).astype("float32")
    offsets[1] = 0.0
    pictures = flow_to_color(offsets)
    for sample in range(2):
        np.testing.assert_allclose(
            pictures[sample], np_flow_to_color(offsets[sample]), atol=1 / 255 + 1e-6
        )
    np.testing.assert_array_equal(pictures[1], np.ones((5, 7, 3)))  # zero offset is white


def test_dynamic_shapes_tf_function_and_jit_match_eager():
    layer = ContextualAttention(rate=2, return_flow=True, resize_align_corners=True)
    spec = tf.TensorSpec([None, None, None, 4], "float32")
    mask_spec = tf.TensorSpec([None, None, None, 1], "float32")
    graph = tf.function(layer.__call__, input_signature=[spec, spec, mask_spec])
    jitted = tf.function(layer.__call__, jit_compile=True)
    for size in (8, 12):
        fg, bg, mask = make_inputs(batch=2, size=size, channels=4, rate=2)
        eager = layer(fg, bg, mask)
        for outputs in (graph(fg, bg, mask), jitted(fg, bg, mask)):
            np.testing.assert_allclose(outputs[0], eager[0], rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(outputs[1], eager[1], atol=1 / 255 + 1e-6)
    fg, bg, mask = make_inputs(batch=2, size=10, channels=4, rate=2)
    with pytest.raises(tf.errors.InvalidArgumentError, match="divisible by rate=2"):
        graph(fg[:, :9], bg[:, :9], mask[:, :9])


def test_gradients_reach_foreground_and_background_and_are_finite_under_xla():
    """An all-zero background patch (norm 0, clamped to 1e-4) must not give NaN gradients."""
    layer = ContextualAttention(rate=2, resize_align_corners=True)
    fg, bg, mask = make_inputs(batch=2, size=16, channels=4, rate=2)
    bg[:, :8, :8] = 0.0

    @tf.function(jit_compile=True)
    def gradients(fg, bg, mask):
        with tf.GradientTape() as tape:
            tape.watch([fg, bg])
            loss = tf.reduce_sum(layer(fg, bg, mask) ** 2)
        return tape.gradient(loss, [fg, bg])

    for grad in gradients(tf.constant(fg), tf.constant(bg), tf.constant(mask)):
        assert grad is not None
        assert np.all(np.isfinite(grad)) and np.max(np.abs(grad)) > 0


@pytest.mark.parametrize("fuse_size", [2, 3])
def test_gradients_under_xla_equal_graph_gradients(fuse_size):
    """The fuse step is a convolution in graph mode and shifted slices under XLA: the
    gradients of the two must agree."""
    layer = ContextualAttention(rate=2, fuse_size=fuse_size)
    fg, bg, mask = (tf.constant(x) for x in make_inputs(batch=3, size=16, channels=4, rate=2))
    weights = tf.random.stateless_uniform(fg.shape, seed=(1, 2))

    def gradients(fg, bg, mask):
        with tf.GradientTape() as tape:
            tape.watch([fg, bg])
            loss = tf.reduce_sum(weights * layer(fg, bg, mask))
        return tape.gradient(loss, [fg, bg])

    graph = tf.function(gradients)(fg, bg, mask)
    xla = tf.function(gradients, jit_compile=True)(fg, bg, mask)
    for expected, actual in zip(graph, xla):
        np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-4)


def test_xla_context_is_seen_only_while_tracing_for_xla():
    seen = {}

    def probe(jit_compile):
        seen[jit_compile] = contextual_attention._in_xla_context()
        return tf.zeros(())

    for jit_compile in (False, True):
        tf.function(lambda: probe(jit_compile), jit_compile=jit_compile)()
    assert seen == {False: False, True: True}
    assert not contextual_attention._in_xla_context()  # eagerly


def test_bad_inputs_raise_value_error_naming_shapes():
    layer = ContextualAttention(rate=2)
    x = np.zeros((2, 8, 8, 4), "float32")
    mask = np.zeros((2, 8, 8, 1), "float32")
    with pytest.raises(ValueError, match=r"same shape.*\(2, 8, 8, 4\) and \(2, 8, 6, 4\)"):
        layer(x, x[:, :, :6], mask)
    with pytest.raises(ValueError, match=r"mask must have shape.*received shape \(2, 8, 8, 3\)"):
        layer(x, x, np.zeros((2, 8, 8, 3), "float32"))
    with pytest.raises(ValueError, match=r"mask must match.*received shape \(1, 8, 8, 1\)"):
        layer(x, x, mask[:1])
    with pytest.raises(ValueError, match=r"rank 4.*received shape \(8, 8, 4\)"):
        layer(x[0], x[0], mask[0])
    with pytest.raises(ValueError, match=r"divisible by rate=2.*received shape \(2, 9, 8, 4\)"):
        layer(np.zeros((2, 9, 8, 4), "float32"), np.zeros((2, 9, 8, 4), "float32"))
    with pytest.raises(ValueError, match="paste_normalization must be one of"):
        ContextualAttention(paste_normalization="mean")
    with pytest.raises(ValueError, match="rate must be a positive integer, received 0"):
        ContextualAttention(rate=0)
    with pytest.raises(ValueError, match="rate must be a positive integer, received 2.0"):
        ContextualAttention(rate=2.0)
    assert type(ContextualAttention(rate=np.int64(3)).get_config()["rate"]) is int


@pytest.mark.parametrize(
    "fg_shape, bg_shape, mask_shape, message",
    [
        ((2, 8, 8, 4), (2, 4, 4, 4), (2, 8, 8, 1), "foreground and background must have the same"),
        ((2, 8, 8, 4), (1, 8, 8, 4), (2, 8, 8, 1), "foreground and background must have the same"),
        ((2, 8, 8, 4), (2, 8, 8, 4), (2, 4, 4, 1), "mask must match the batch, height and width"),
        ((2, 8, 8, 4), (2, 8, 8, 4), (1, 8, 8, 1), "mask must match the batch, height and width"),
    ],
)
def test_shape_mismatch_fails_at_run_time_in_a_dynamic_tf_function(
    fg_shape, bg_shape, mask_shape, message
):
    """Unknown sizes are checked at run time with the messages of the static checks (before,
    these failed on an "Incompatible shapes" op deep inside, or a mask of batch 1 broadcast)."""
    layer = ContextualAttention(rate=2)
    spec = tf.TensorSpec([None, None, None, 4], "float32")
    call = tf.function(
        layer.__call__, input_signature=[spec, spec, tf.TensorSpec([None, None, None, 1])]
    )
    fg, bg, mask = make_inputs(batch=2, size=8, channels=4, rate=2)
    np.testing.assert_allclose(call(fg, bg, mask), layer(fg, bg, mask), rtol=1e-5, atol=1e-6)
    inputs = (np.zeros(shape, "float32") for shape in (fg_shape, bg_shape, mask_shape))
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        call(*inputs)


@pytest.mark.parametrize("scale", [float("nan"), float("inf"), 0.0, -10.0, "10", True, None])
def test_softmax_scale_must_be_finite_and_positive(scale):
    received = re.escape(repr(scale))
    with pytest.raises(ValueError, match=rf"softmax_scale must be.*, received {received}$"):
        ContextualAttention(softmax_scale=scale)


def test_softmax_scale_accepts_numpy_and_int_and_stores_a_float():
    for scale in (np.float32(0.5), 10):
        layer = ContextualAttention(softmax_scale=scale)
        assert type(layer.get_config()["softmax_scale"]) is float
        assert layer.get_config()["softmax_scale"] == float(scale)


def test_layer_harness():
    fg, bg, mask = make_inputs(batch=2, size=16, channels=4, rate=2)
    run_layer_test(
        ContextualAttention,
        init_kwargs={"rate": 2, "paste_normalization": "overlap"},
        input_data=(fg, bg, mask),
        expected_output_shape=(2, 16, 16, 4),
        expected_num_trainable_weights=0,
        expected_num_non_trainable_weights=0,
    )


def test_layer_harness_with_flow():
    """Two outputs; the flow is an argmax picture, which float16 inputs may legitimately flip,
    so mixed precision checks dtypes and finiteness only (the output y is compared above)."""
    fg, bg, mask = make_inputs(batch=2, size=16, channels=4, rate=2)
    run_layer_test(
        ContextualAttention,
        init_kwargs={"rate": 2, "return_flow": True, "resize_align_corners": True},
        input_data=(fg, bg, mask),
        expected_output_shape=((2, 16, 16, 4), (2, 8, 8, 3)),
        run_training_check=False,
        mixed_precision_tolerance=None,
    )


def test_functional_model_shapes_and_bad_symbolic_inputs_name_the_shape():
    foreground = keras.Input((None, None, 8))
    outputs, flow = ContextualAttention(return_flow=True)(foreground, foreground)
    assert outputs.shape == (None, None, None, 8) and flow.shape == (None, None, None, 3)
    _, flow = ContextualAttention(rate=4, return_flow=True)(keras.Input((16, 24, 8)),
                                                            keras.Input((16, 24, 8)))
    assert flow.shape == (None, 4, 6, 3)
    with pytest.raises(ValueError, match=r"mask must have shape .*received shape "
                                         r"\(None, None, None, 2\)") as error:
        ContextualAttention()(foreground, foreground, keras.Input((None, None, 2)))
    assert "compute_output_spec" not in str(error.value)
    with pytest.raises(ValueError, match=r"divisible by rate=2, received shape \(None, 9, 8, 8\)"):
        ContextualAttention()(keras.Input((9, 8, 8)), keras.Input((9, 8, 8)))


def test_mask_passed_by_keyword_gives_no_keras_masking_warning():
    """Keras treats a `mask` argument as a Keras mask: `layer(f, b, mask=holes)` warned that the
    layer "will destroy the mask information", as if the mask were dropped. It is not."""
    fg, bg, mask = make_inputs(batch=2, size=16, channels=4, rate=2)
    layer = ContextualAttention(rate=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        by_keyword = layer(fg, bg, mask=mask)
    np.testing.assert_array_equal(by_keyword, layer(fg, bg, mask))
    assert getattr(by_keyword, "_keras_mask", None) is None


@pytest.mark.parametrize("return_flow", [False, True])
def test_compute_output_shape_matches_the_outputs(return_flow):
    """It was not implemented (NotImplementedError)."""
    fg, bg, mask = make_inputs(batch=2, size=12, channels=4, rate=3)
    layer = ContextualAttention(rate=3, return_flow=return_flow)
    shapes = keras.tree.map_structure(lambda x: tuple(x.shape), layer(fg, bg, mask))
    assert layer.compute_output_shape(fg.shape, bg.shape, mask.shape) == shapes
    assert layer.compute_output_shape(fg.shape) == shapes
