"""Tests for keras_inpaint.postprocess (OpenCV) and keras_inpaint.poisson (TensorFlow ops)."""

import numpy as np
import pytest

from keras_inpaint import postprocess
from keras_inpaint.postprocess import (
    ClassicalInpainter,
    get_postprocessor,
    navier_stokes,
    poisson_blend,
    telea,
)

SIZE = 24
COLOUR_OFFSET = 0.2
FILLS = {"poisson": poisson_blend, "telea": telea, "navier_stokes": navier_stokes}


def smooth_image(height=SIZE, width=SIZE):
    """A smooth colour gradient in [0.1, 0.7] (float32 [H, W, 3])."""
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    channels = [0.2 + 0.5 * x, 0.3 + 0.4 * y, 0.6 - 0.3 * x * y]
    return np.stack(channels, axis=-1).astype(np.float32)


def hole_mask(*regions, height=SIZE, width=SIZE):
    """float32 [H, W, 1] mask, 1 inside each ``np.s_`` region."""
    mask = np.zeros((height, width, 1), np.float32)
    for region in regions:
        mask[region] = 1.0
    return mask


def boundary_gradient(image, hole):
    """Mean |I(p) - I(q)| over 4-neighbour pixel pairs with exactly one of p, q in the hole."""
    steps = []
    for axis in (0, 1):
        values = np.moveaxis(image, axis, 0)
        inside = np.moveaxis(hole, axis, 0)
        crossing = inside[1:] != inside[:-1]
        steps.append(np.abs(values[1:] - values[:-1])[crossing])
    return float(np.concatenate(steps).mean())


def offset_fill(image, mask, composited=True):
    """A "network output" with the right structure and a constant colour error."""
    wrong = np.clip(image + COLOUR_OFFSET, 0.0, 1.0)
    return np.where(mask > 0, wrong, image).astype(np.float32) if composited else wrong


def seam_reduction(image, mask, composited=True):
    """(boundary gradient after poisson_blend) / (before), and the blended image."""
    filled = offset_fill(image, mask, composited)
    hole = mask[..., 0] > 0
    before = boundary_gradient(np.where(mask > 0, filled, image), hole)
    blended = poisson_blend(image, mask, filled)
    return boundary_gradient(blended, hole) / before, blended


@pytest.mark.parametrize("name", sorted(FILLS))
def test_known_pixels_are_returned_exactly(name):
    rng = np.random.default_rng(0)
    image = rng.random((2, SIZE, SIZE, 3)).astype(np.float32)
    mask = np.stack(
        [hole_mask(np.s_[3:11, 5:20], np.s_[15:24, 0:6]), hole_mask(np.s_[0:24, 10:13])]
    )
    extra = (rng.random(image.shape).astype(np.float32),) if name == "poisson" else ()
    result = FILLS[name](image, mask, *extra)
    known = mask[..., 0] == 0
    assert result.dtype == np.float32 and result.shape == image.shape
    np.testing.assert_array_equal(result[known], image[known])
    assert np.all((result >= 0) & (result <= 1))
    assert not np.allclose(result[~known], image[~known], atol=0.05)


@pytest.mark.parametrize("name", sorted(FILLS))
def test_fill_ignores_the_hole_content_of_image(name):
    # OpenCV's fast marching reads some hole pixels near the image border; evaluations pass
    # the ground truth as `image`, so the fill must not depend on it. Scattered random holes
    # touch the border in many ways.
    rng = np.random.default_rng(1)
    image = rng.random((6, 12, 12, 3)).astype(np.float32)
    mask = (rng.random((6, 12, 12, 1)) < 0.3).astype(np.float32)
    other = np.where(mask > 0, rng.random(image.shape), image).astype(np.float32)
    extra = (rng.random(image.shape).astype(np.float32),) if name == "poisson" else ()
    fill = FILLS[name]
    np.testing.assert_array_equal(fill(image, mask, *extra), fill(other, mask, *extra))


@pytest.mark.parametrize("composited", [True, False], ids=["composited", "raw"])
def test_poisson_blend_removes_a_constant_colour_seam(composited):
    image = smooth_image()
    mask = hole_mask(np.s_[7:17, 6:18])
    ratio, blended = seam_reduction(image, mask, composited)
    hole = mask[..., 0] > 0
    # Before: the 0.2 step; after: about the image's own gradient (~0.006 here).
    assert ratio < 0.3
    assert boundary_gradient(blended, hole) < 2 * boundary_gradient(image, hole)
    # The exact Poisson solution is the true image; OpenCV's 8-bit solve comes close.
    assert np.abs(blended - image)[hole].mean() < 0.02


@pytest.mark.parametrize("region", [np.s_[4:20, 4:20], np.s_[0:12, :]], ids=["centre", "top"])
def test_poisson_blend_keeps_a_perfect_fill_close(region):
    image = smooth_image()
    mask = hole_mask(region)
    hole = mask[..., 0] > 0
    error = np.abs(poisson_blend(image, mask, image) - image)[hole]
    assert error.mean() < 6 / 255 and error.max() < 16 / 255


BORDER_HOLES = {
    "top": np.s_[0:8, 6:18],
    "bottom": np.s_[16:24, 6:18],
    "left": np.s_[6:18, 0:8],
    "right": np.s_[6:18, 16:24],
    "top_left": np.s_[0:10, 0:10],
    "top_right": np.s_[0:10, 14:24],
    "bottom_left": np.s_[14:24, 0:10],
    "bottom_right": np.s_[14:24, 14:24],
    "full_width": np.s_[9:15, :],
    "full_height": np.s_[:, 9:15],
    "near_left_and_right": np.s_[8:16, 3:21],
    "top_to_near_bottom": np.s_[0:23, 6:18],
}


@pytest.mark.parametrize("region", sorted(BORDER_HOLES))
def test_poisson_blend_handles_holes_at_the_border(region):
    image = smooth_image()
    mask = hole_mask(BORDER_HOLES[region])
    ratio, blended = seam_reduction(image, mask)
    known = mask[..., 0] == 0
    assert np.all(np.isfinite(blended))
    np.testing.assert_array_equal(blended[known], image[known])
    assert ratio < 0.3
    assert np.abs(blended - image)[~known].mean() < 0.03


STRUCTURE_HOLES = {
    "centre": np.s_[5:19, 4:20],
    "corner": np.s_[0:14, 0:14],
    "bottom": np.s_[12:24, :],
    "top_to_near_bottom": np.s_[0:23, 4:20],
    "top_to_two_from_bottom": np.s_[0:22, 4:20],
}


@pytest.mark.parametrize("region", STRUCTURE_HOLES.values(), ids=STRUCTURE_HOLES.keys())
def test_poisson_blend_keeps_the_network_structure(region):
    # Network output = image + offset + texture: after blending, the hole interior must carry
    # the texture's gradients at the same pixels (a misplaced clone would not).
    rng = np.random.default_rng(2)
    image = smooth_image()
    texture = 0.15 * rng.random(image.shape).astype(np.float32)
    network = np.clip(image + 0.1 + texture, 0.0, 1.0)
    mask = hole_mask(region)
    blended = poisson_blend(image, mask, np.where(mask > 0, network, image))
    interior = mask[..., 0] > 0
    for _ in range(2):  # edges at least two pixels inside the hole
        interior[1:-1, 1:-1] &= (
            interior[:-2, 1:-1] & interior[2:, 1:-1] & interior[1:-1, :-2] & interior[1:-1, 2:]
        )
    both = interior[:, 1:] & interior[:, :-1]
    blended_steps = np.diff(blended, axis=1)[both]
    network_steps = np.diff(network, axis=1)[both]
    assert np.abs(blended_steps - network_steps).mean() < 3 / 255
    assert np.corrcoef(blended_steps.ravel(), network_steps.ravel())[0, 1] > 0.95


def test_poisson_blend_treats_each_hole_region():
    image = smooth_image(32, 32)
    regions = [np.s_[3:11, 4:14], np.s_[18:27, 18:30], np.s_[0:7, 24:32], np.s_[28:29, 5:6]]
    mask = hole_mask(*regions, height=32, width=32)
    filled = offset_fill(image, mask)
    blended = poisson_blend(image, mask, filled)
    known = mask[..., 0] == 0
    np.testing.assert_array_equal(blended[known], image[known])
    assert np.all(np.isfinite(blended))
    for region in regions:
        alone = hole_mask(region, height=32, width=32)[..., 0] > 0
        before = boundary_gradient(np.where(alone[..., None], filled, image), alone)
        assert boundary_gradient(np.where(alone[..., None], blended, image), alone) < 0.3 * before


@pytest.mark.parametrize("name", sorted(FILLS))
def test_batch_matches_single_images(name):
    rng = np.random.default_rng(3)
    image = np.stack([smooth_image(), rng.random((SIZE, SIZE, 3)).astype(np.float32)])
    mask = np.stack([hole_mask(np.s_[4:14, 5:15]), hole_mask(np.s_[10:24, 0:9])])
    filled = offset_fill(image, mask)
    extra = (filled,) if name == "poisson" else ()
    batch = FILLS[name](image, mask, *extra)
    for index in range(2):
        single = FILLS[name](image[index], mask[index], *(value[index] for value in extra))
        np.testing.assert_array_equal(batch[index], single)


@pytest.mark.parametrize("name", sorted(FILLS))
def test_empty_mask_returns_the_input(name):
    image = smooth_image()
    mask = np.zeros((SIZE, SIZE, 1), np.float32)
    extra = (offset_fill(image, mask + 1),) if name == "poisson" else ()
    np.testing.assert_array_equal(FILLS[name](image, mask, *extra), image)


def test_all_hole_mask_returns_finite_values():
    image = smooth_image()
    mask = np.ones((SIZE, SIZE, 1), np.float32)
    filled = offset_fill(image, mask)
    np.testing.assert_array_equal(poisson_blend(image, mask, filled), filled)
    for fill in (telea, navier_stokes):
        np.testing.assert_array_equal(fill(image, mask), np.full_like(image, 0.5))


@pytest.mark.parametrize("fill, tolerance", [(navier_stokes, 1 / 255), (telea, 8 / 255)])
def test_classical_fill_of_a_constant_image_is_that_constant(fill, tolerance):
    # OpenCV's Telea drifts by a few grey levels even on a constant image.
    image = np.full((SIZE, SIZE, 3), 0.4, np.float32)
    result = fill(image, hole_mask(np.s_[0:9, 3:15], np.s_[14:22, 14:24]))
    assert np.abs(result - 0.4).max() <= tolerance


def test_classical_inpainter_is_called_like_a_model():
    image = np.stack([smooth_image(), smooth_image()[::-1]])
    mask = np.stack([hole_mask(np.s_[2:9, 2:9]), hole_mask(np.s_[12:20, 0:5])])
    for method, fill in (("telea", telea), ("navier_stokes", navier_stokes)):
        inpainter = ClassicalInpainter(method, radius=2)
        result = inpainter({"image": image, "mask": mask}, training=False)
        assert inpainter.name == method
        assert inpainter.get_config() == {"method": method, "radius": 2}
        np.testing.assert_array_equal(result, fill(image, mask, radius=2))
    with pytest.raises(ValueError, match="keys 'image' and 'mask'"):
        ClassicalInpainter()({"image": image})
    with pytest.raises(ValueError, match=r"\[B, H, W, 3\]"):
        ClassicalInpainter()({"image": image[0], "mask": mask[0]})
    with pytest.raises(ValueError, match="navier_stokes"):
        ClassicalInpainter("patchmatch")


def test_get_postprocessor():
    image = smooth_image()
    mask = hole_mask(np.s_[5:15, 5:15])
    filled = offset_fill(image, mask)
    assert get_postprocessor("poisson") is poisson_blend
    assert get_postprocessor(None)(image, mask, filled) is filled
    with pytest.raises(ValueError, match="poisson"):
        get_postprocessor("seamless")


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda i, m: telea(i, m[..., [0, 0, 0]]), "mask must have shape"),
        (lambda i, m: telea(i[..., :2], m), r"image must have shape"),
        (lambda i, m: telea((i * 255).astype(np.uint8), m), "float in \\[0, 1\\]"),
        (lambda i, m: navier_stokes(i, m, radius=0), "radius must be a positive"),
        (lambda i, m: poisson_blend(i, m, i[:-1]), "filled must be"),
    ],
)
def test_invalid_arguments_raise(call, message):
    with pytest.raises(ValueError, match=message):
        call(smooth_image(), hole_mask(np.s_[2:5, 2:5]))


# TensorFlow-op solver -----------------------------------------------------------------------


def dense_poisson(target, source, hole):
    """Reference: Pérez et al.'s discrete Poisson equation solved with numpy.linalg.solve.

    Graph Laplacian L of the 4-connected grid (out-of-image neighbours left out); in the hole
    L_hh x_h = (L s)_h - L_hk t_k, elsewhere x = t. Per channel, one image [H, W, C].
    """
    height, width = hole.shape
    count = height * width
    laplacian = np.zeros((count, count))
    for row in range(height):
        for col in range(width):
            for d_row, d_col in ((1, 0), (-1, 0), (0, 1), (0, -1)):
                other_row, other_col = row + d_row, col + d_col
                if 0 <= other_row < height and 0 <= other_col < width:
                    laplacian[row * width + col, row * width + col] += 1
                    laplacian[row * width + col, other_row * width + other_col] -= 1
    inside = hole.ravel()
    result = target.reshape(count, -1).astype(np.float64)
    for channel in range(target.shape[-1]):
        guide = laplacian @ source[..., channel].ravel()
        right = guide[inside] - laplacian[np.ix_(inside, ~inside)] @ result[~inside, channel]
        result[inside, channel] = np.linalg.solve(laplacian[np.ix_(inside, inside)], right)
    return result.reshape(target.shape)


def tf_case():
    """Two 8x8 images (one hole in the middle, one at the border), their dense solutions."""
    rng = np.random.default_rng(4)
    target = rng.random((2, 8, 8, 3)).astype(np.float32)
    source = rng.random((2, 8, 8, 3)).astype(np.float32)
    mask = np.zeros((2, 8, 8, 1), np.float32)
    mask[0, 2:6, 1:5] = 1
    mask[1, 0:3, 4:8] = 1
    mask[1, 6:8, 0:2] = 1
    expected = np.stack(
        [dense_poisson(target[i], source[i], mask[i, ..., 0] > 0) for i in range(2)]
    )
    return target, source, mask, expected


def test_poisson_blend_tf_matches_a_dense_solve():
    from keras_inpaint.poisson import poisson_blend_tf

    assert postprocess.poisson_blend_tf is poisson_blend_tf
    target, source, mask, expected = tf_case()
    result = poisson_blend_tf(target, source, mask).numpy()
    np.testing.assert_allclose(result, expected, atol=1e-4)
    known = np.broadcast_to(mask == 0, target.shape)
    np.testing.assert_array_equal(result[known], target[known])


def test_poisson_blend_tf_in_a_tf_function_with_dynamic_shapes():
    import tensorflow as tf

    from keras_inpaint.poisson import poisson_blend_tf

    spec = tf.TensorSpec([None, None, None, None], tf.float32)
    blend = tf.function(poisson_blend_tf, input_signature=[spec, spec, spec])
    target, source, mask, expected = tf_case()
    np.testing.assert_allclose(blend(target, source, mask).numpy(), expected, atol=1e-4)
    rng = np.random.default_rng(5)
    wide = [rng.random((1, 6, 10, c)).astype(np.float32) for c in (2, 2)]
    wide_mask = np.zeros((1, 6, 10, 1), np.float32)
    wide_mask[0, 1:5, 3:9] = 1
    wide_expected = dense_poisson(wide[0][0], wide[1][0], wide_mask[0, ..., 0] > 0)
    np.testing.assert_allclose(blend(*wide, wide_mask).numpy()[0], wide_expected, atol=1e-4)
    graph = blend.get_concrete_function().graph
    op_types = {op.type for op in graph.get_operations()}
    assert "While" in op_types or "StatelessWhile" in op_types
    assert not op_types & {"PyFunc", "EagerPyFunc", "PyFuncStateless"}


def test_poisson_blend_tf_edge_cases():
    from keras_inpaint.poisson import poisson_blend_tf

    target, source, _, _ = tf_case()
    no_hole = np.zeros((2, 8, 8, 1), np.float32)
    np.testing.assert_array_equal(poisson_blend_tf(target, source, no_hole).numpy(), target)
    all_hole = poisson_blend_tf(target, source, no_hole + 1).numpy()
    assert np.all(np.isfinite(all_hole))
    np.testing.assert_allclose(all_hole, source, atol=1e-6)
    half = poisson_blend_tf(target.astype(np.float16), source, no_hole).numpy()
    assert half.dtype == np.float16
    with pytest.raises(ValueError, match="mask must have 1 channel"):
        poisson_blend_tf(target, source, target)
    with pytest.raises(ValueError, match="source must have the target's shape"):
        poisson_blend_tf(target, source[:, :4], no_hole)
