"""Hole generators for training and evaluating inpainting models.

Every generator has one interface: ``generator(height, width, rng)`` returns a float32 NumPy
array of shape ``(height, width, 1)`` holding 0 and 1, where **1 = hole** and ``rng`` is a
``numpy.random.Generator``. Generators are plain NumPy/OpenCV code, so the data pipeline calls
them through ``tf.numpy_function``; because all randomness comes from ``rng``,
``sample_mask(generator, height, width, seed, index)`` gives the same mask again for the same
``(seed, index)``, which is how an interrupted training run resumes on the same masks.

Generators: `RectangleMask` / `CenterMask` (Pathak et al. 2016, Iizuka et al. 2017, Yu et al.
2018), `FreeFormMask` (Yu et al. 2019 brush strokes), `IrregularMask` (in the style of Liu et
al. 2018), `BlobMask` (Pathak et al.'s random object-shaped regions), `FolderMask` (mask files
such as NVIDIA's irregular mask set) and `UnionMask`. `get_mask_generator(spec)` builds one from
a name, with constructor arguments if given (``"irregular:max_shapes=24,min_width=2"``). Each
generator's docstring gives its hole-ratio distribution at 256x256, measured with
`measure_hole_ratio` (1000 masks, seed 0) by the command shown there.

Example:
>>> import numpy as np
>>> generator = get_mask_generator("free_form+rectangle")
>>> mask = sample_mask(generator, 256, 256, seed=0, index=12)
>>> mask.shape, mask.dtype
((256, 256, 1), dtype('float32'))
"""

import inspect
import math
import os
import warnings

import cv2
import numpy as np
from PIL import Image

from keras_inpaint.arguments import is_finite_number

REFERENCE_SIZE = 256
"""Image side (pixels) at which the papers' stroke widths are given; widths scale from it."""

MASK_FILE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif")
"""File extensions (case-insensitive) that `FolderMask` reads."""

LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114], np.float32)
"""ITU-R BT.601 luma weights (the ones PIL's ``convert("L")`` uses)."""

_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")
_SIXTEEN_BIT_MAX = 65535.0
_EIGHT_BIT_MAX = 255.0


class MaskGenerator:
    """Base class: ``generator(height, width, rng) -> float32 (height, width, 1)``, 1 = hole.

    Subclasses implement `draw(height, width, rng)`, returning a 2-D array whose nonzero
    entries are holes; the base class checks the arguments and converts the result.
    """

    def __call__(self, height, width, rng):
        height, width = _check_size(height, width)
        if not isinstance(rng, np.random.Generator):
            raise ValueError(
                "rng must be a numpy.random.Generator (e.g. np.random.default_rng(seed)), "
                f"received {type(rng).__name__}"
            )
        hole = np.asarray(self.draw(height, width, rng))
        return (hole > 0).astype(np.float32)[..., None]

    def draw(self, height, width, rng):
        """A 2-D ``(height, width)`` array, nonzero = hole."""
        raise NotImplementedError(f"{type(self).__name__} must implement draw()")

    def get_config(self):
        """The constructor arguments, one entry each."""
        return {}

    def __repr__(self):
        arguments = ", ".join(f"{key}={value!r}" for key, value in self.get_config().items())
        return f"{type(self).__name__}({arguments})"


class RectangleMask(MaskGenerator):
    """One axis-aligned rectangular hole.

    The hole's height and width are drawn independently, uniformly in
    ``[min_size, max_size]`` times the image height and width (rounded, at least 1 pixel).
    With ``centered=False`` its position is uniform over the positions where it fits; with
    ``centered=True`` it sits in the middle of the image.

    The papers' settings at 256x256: Iizuka et al. (2017) holes of 96-128 pixels per side,
    ``RectangleMask(0.375, 0.5)`` (the default); Yu et al. (2018, DeepFill v1) a 128x128 hole at
    a random position, ``RectangleMask(0.5, 0.5)``; Pathak et al. (2016) the central quarter of
    the area, ``CenterMask(0.5)``.

    Measured hole ratio at 256x256 with the defaults (1000 masks): mean 0.192, 5th percentile
    0.156, 95th percentile 0.229 (``python -c "from keras_inpaint import masks;
    print(masks.measure_hole_ratio(masks.RectangleMask()))"``).

    Args:
        min_size: smallest side of the hole as a fraction of the image side, in (0, 1].
        max_size: largest side of the hole as a fraction of the image side, in
            [min_size, 1].
        centered: put the hole in the centre of the image instead of at a random place.

    Example:
    >>> mask = RectangleMask(0.5, 0.5)(256, 256, np.random.default_rng(0))
    >>> float(mask.mean())
    0.25
    """

    def __init__(self, min_size=0.375, max_size=0.5, centered=False):
        _check_range("RectangleMask", "size", min_size, max_size, 0.0, 1.0, "(]")
        self.min_size = min_size
        self.max_size = max_size
        self.centered = centered

    def draw(self, height, width, rng):
        hole_height, hole_width = (
            max(1, round(side * rng.uniform(self.min_size, self.max_size)))
            for side in (height, width)
        )
        if self.centered:
            top, left = (height - hole_height) // 2, (width - hole_width) // 2
        else:
            top = rng.integers(0, height - hole_height + 1)
            left = rng.integers(0, width - hole_width + 1)
        hole = np.zeros((height, width), np.uint8)
        hole[top : top + hole_height, left : left + hole_width] = 1
        return hole

    def get_config(self):
        return {"min_size": self.min_size, "max_size": self.max_size, "centered": self.centered}


class CenterMask(RectangleMask):
    """A centred square-proportioned hole covering `fraction` of each side.

    Pathak et al. (2016)'s "central region" masks: ``fraction=0.5`` removes the centre quarter
    of the image's area. The mask is the same for every ``rng``; hole ratio at 256x256 with the
    default: exactly 0.25 (``python -c "from keras_inpaint import masks;
    print(masks.measure_hole_ratio(masks.CenterMask()))"``).

    Args:
        fraction: hole side as a fraction of the image side, in (0, 1].

    Example:
    >>> mask = CenterMask()(8, 8, np.random.default_rng(0))
    >>> float(mask[2:6, 2:6, 0].min()), float(mask.sum())
    (1.0, 16.0)
    """

    def __init__(self, fraction=0.5):
        _check_number("CenterMask", "fraction", fraction, 0.0, 1.0, "(]")
        super().__init__(min_size=fraction, max_size=fraction, centered=True)
        self.fraction = fraction

    def get_config(self):
        return {"fraction": self.fraction}


class FreeFormMask(MaskGenerator):
    """DeepFill v2 free-form brush strokes (Yu et al. 2019, "Free-Form Image Inpainting with
    Gated Convolution", Algorithm 1 and the authors' released generator).

    For each of ``U{min_strokes..max_strokes}`` strokes: ``U{min_vertices..max_vertices}``
    vertices; a stroke's angle bounds are ``mean_angle -+ U(0, angle_range)`` and the turn at
    vertex i is drawn uniformly between them, mirrored to ``2*pi - angle`` at every even i so
    the stroke zig-zags; the first vertex is uniform over the image, each step has length
    ``clip(N(r, r/2), 0, 2r)`` with ``r = sqrt(H^2 + W^2) / 8`` and is clipped to the image;
    the stroke is a polyline of width ``U(min_width, max_width)`` (pixels at
    `REFERENCE_SIZE` = 256, scaled by the image diagonal) with a disc of that diameter at every
    vertex. Finally the mask is flipped left-right and, independently, top-bottom, each with
    probability `flip_probability`. (The authors' code computed the flips and discarded the
    flipped array; here they apply.)

    Measured hole ratio at 256x256 with the defaults (1000 masks): mean 0.156, 5th percentile
    0.036, 95th percentile 0.302 (``python -c "from keras_inpaint import masks;
    print(masks.measure_hole_ratio(masks.FreeFormMask()))"``).

    Args:
        min_strokes: fewest strokes per mask.
        max_strokes: most strokes per mask (inclusive).
        min_vertices: fewest vertices per stroke.
        max_vertices: most vertices per stroke (inclusive).
        mean_angle: mean turning angle in radians (2*pi/5 in the paper).
        angle_range: largest deviation of a stroke's angle bounds from `mean_angle`
            (2*pi/15 in the paper).
        min_width: narrowest brush in pixels at 256x256.
        max_width: widest brush in pixels at 256x256.
        flip_probability: probability of each of the two flips.

    Example:
    >>> mask = FreeFormMask()(256, 256, np.random.default_rng(0))
    >>> mask.shape
    (256, 256, 1)
    """

    def __init__(
        self,
        min_strokes=1,
        max_strokes=3,
        min_vertices=4,
        max_vertices=11,
        mean_angle=2.0 * math.pi / 5.0,
        angle_range=2.0 * math.pi / 15.0,
        min_width=12.0,
        max_width=40.0,
        flip_probability=0.5,
    ):
        _check_range("FreeFormMask", "strokes", min_strokes, max_strokes, 1, integer=True)
        _check_range("FreeFormMask", "vertices", min_vertices, max_vertices, 1, integer=True)
        _check_range("FreeFormMask", "width", min_width, max_width, 0.0)
        _check_number("FreeFormMask", "mean_angle", mean_angle)
        _check_number("FreeFormMask", "angle_range", angle_range, 0.0)
        _check_number("FreeFormMask", "flip_probability", flip_probability, 0.0, 1.0, "[]")
        self.min_strokes = min_strokes
        self.max_strokes = max_strokes
        self.min_vertices = min_vertices
        self.max_vertices = max_vertices
        self.mean_angle = mean_angle
        self.angle_range = angle_range
        self.min_width = min_width
        self.max_width = max_width
        self.flip_probability = flip_probability

    def draw(self, height, width, rng):
        hole = np.zeros((height, width), np.uint8)
        step_length = math.hypot(height, width) / 8.0
        for _ in range(rng.integers(self.min_strokes, self.max_strokes + 1)):
            num_vertices = rng.integers(self.min_vertices, self.max_vertices + 1)
            lowest = self.mean_angle - rng.uniform(0.0, self.angle_range)
            highest = self.mean_angle + rng.uniform(0.0, self.angle_range)
            angles = rng.uniform(lowest, highest, num_vertices)
            angles[0::2] = 2.0 * math.pi - angles[0::2]
            lengths = np.clip(
                rng.normal(step_length, step_length / 2.0, num_vertices), 0.0, 2.0 * step_length
            )
            vertices = [(rng.uniform(0, width - 1), rng.uniform(0, height - 1))]
            for angle, length in zip(angles, lengths):
                x, y = vertices[-1]
                vertices.append(
                    (
                        np.clip(x + length * math.cos(angle), 0, width - 1),
                        np.clip(y + length * math.sin(angle), 0, height - 1),
                    )
                )
            brush = _scaled_width(rng.uniform(self.min_width, self.max_width), height, width)
            _draw_stroke(hole, np.round(vertices).astype(np.int32), brush)
        return _random_flips(hole, rng, self.flip_probability)

    def get_config(self):
        return {
            "min_strokes": self.min_strokes,
            "max_strokes": self.max_strokes,
            "min_vertices": self.min_vertices,
            "max_vertices": self.max_vertices,
            "mean_angle": self.mean_angle,
            "angle_range": self.angle_range,
            "min_width": self.min_width,
            "max_width": self.max_width,
            "flip_probability": self.flip_probability,
        }


class IrregularMask(MaskGenerator):
    """Irregular holes in the style of Liu et al. (2018), "Image Inpainting for Irregular
    Holes Using Partial Convolutions".

    Liu et al. obtained their masks from occlusion estimates between video frames; like most
    re-implementations, this draws a comparable mix of random shapes instead:
    ``U{min_shapes..max_shapes}`` shapes, each with equal probability a straight line between
    two uniform points, a filled disc, or an elliptic arc (semi-axes up to half the image
    side, random rotation, start angle and an extent of 90-360 degrees). Lines and arcs have a
    width, and discs a diameter, of ``U(min_width, max_width)`` pixels at 256x256, scaled by the
    image diagonal. The result has ragged, thin-and-thick holes spread over the image.

    Measured hole ratio at 256x256 with the defaults (1000 masks): mean 0.222, 5th percentile
    0.080, 95th percentile 0.381 (``python -c "from keras_inpaint import masks;
    print(masks.measure_hole_ratio(masks.IrregularMask()))"``).

    Args:
        min_shapes: fewest shapes per mask.
        max_shapes: most shapes per mask (inclusive).
        min_width: thinnest stroke in pixels at 256x256.
        max_width: thickest stroke in pixels at 256x256.

    Example:
    >>> mask = IrregularMask()(256, 256, np.random.default_rng(0))
    >>> sorted(np.unique(mask).tolist())
    [0.0, 1.0]
    """

    _MIN_ARC_DEGREES = 90.0
    _FULL_TURN_DEGREES = 360.0
    _HALF_TURN_DEGREES = 180.0

    def __init__(self, min_shapes=4, max_shapes=12, min_width=5.0, max_width=30.0):
        _check_range("IrregularMask", "shapes", min_shapes, max_shapes, 1, integer=True)
        _check_range("IrregularMask", "width", min_width, max_width, 0.0)
        self.min_shapes = min_shapes
        self.max_shapes = max_shapes
        self.min_width = min_width
        self.max_width = max_width

    def draw(self, height, width, rng):
        hole = np.zeros((height, width), np.uint8)
        for _ in range(rng.integers(self.min_shapes, self.max_shapes + 1)):
            kind = rng.integers(3)
            brush = _scaled_width(rng.uniform(self.min_width, self.max_width), height, width)
            center = (int(rng.integers(width)), int(rng.integers(height)))
            if kind == 0:
                end = (int(rng.integers(width)), int(rng.integers(height)))
                cv2.line(hole, center, end, 1, thickness=brush)
            elif kind == 1:
                cv2.circle(hole, center, max(1, brush // 2), 1, thickness=-1)
            else:
                # Semi-axes of 1 to half the side; at least 1 on sides of 1 pixel.
                axes = tuple(
                    int(rng.integers(1, max(1, side // 2) + 1)) for side in (width, height)
                )
                rotation = rng.uniform(0.0, self._HALF_TURN_DEGREES)
                start = rng.uniform(0.0, self._FULL_TURN_DEGREES)
                extent = rng.uniform(self._MIN_ARC_DEGREES, self._FULL_TURN_DEGREES)
                cv2.ellipse(hole, center, axes, rotation, start, start + extent, 1, brush)
        return hole

    def get_config(self):
        return {
            "min_shapes": self.min_shapes,
            "max_shapes": self.max_shapes,
            "min_width": self.min_width,
            "max_width": self.max_width,
        }


class BlobMask(MaskGenerator):
    """One smooth random object-shaped region, like Pathak et al. (2016)'s random-region masks.

    Pathak et al. pasted deformed PASCAL VOC object silhouettes covering up to a quarter of the
    image. This draws a random smooth star-shaped outline instead: in polar coordinates
    ``rho(theta) = exp(sum_k a_k cos(k theta + phi_k))`` for ``k = 1..num_harmonics`` with
    ``a_k ~ N(0, roughness / k)`` and ``phi_k ~ U(0, 2 pi)``, sampled at `num_points` angles
    as a polygon, scaled so that its area is ``U(min_coverage, max_coverage)`` of the image,
    and placed at a uniform position where it fits (centred if it cannot fit; the part outside
    is cut off).

    Measured hole ratio at 256x256 with the defaults (1000 masks): mean 0.154, 5th percentile
    0.062, 95th percentile 0.244 (``python -c "from keras_inpaint import masks;
    print(masks.measure_hole_ratio(masks.BlobMask()))"``).

    Args:
        min_coverage: smallest blob area as a fraction of the image area.
        max_coverage: largest blob area as a fraction of the image area (Pathak: 1/4).
        num_harmonics: number of Fourier terms of the outline (more = wigglier; 0: a disc).
        roughness: standard deviation of the first term (larger = less round).
        num_points: polygon vertices used to draw the outline (at least 3).

    Example:
    >>> mask = BlobMask()(256, 256, np.random.default_rng(0))
    >>> 0.0 < float(mask.mean()) <= 0.25
    True
    """

    _SUBPIXEL_BITS = 4

    def __init__(
        self, min_coverage=0.05, max_coverage=0.25, num_harmonics=4, roughness=0.4, num_points=64
    ):
        _check_range("BlobMask", "coverage", min_coverage, max_coverage, 0.0, 1.0, "(]")
        _check_number("BlobMask", "num_harmonics", num_harmonics, 0, integer=True)
        _check_number("BlobMask", "roughness", roughness, 0.0)
        # A polygon needs 3 vertices to have an area to scale.
        _check_number("BlobMask", "num_points", num_points, 3, integer=True)
        self.min_coverage = min_coverage
        self.max_coverage = max_coverage
        self.num_harmonics = num_harmonics
        self.roughness = roughness
        self.num_points = num_points

    def draw(self, height, width, rng):
        theta = np.linspace(0.0, 2.0 * math.pi, self.num_points, endpoint=False)
        orders = np.arange(1, self.num_harmonics + 1)
        amplitudes = rng.normal(0.0, self.roughness / orders)
        phases = rng.uniform(0.0, 2.0 * math.pi, self.num_harmonics)
        radius = np.exp(np.cos(np.outer(theta, orders) + phases) @ amplitudes)
        points = np.stack([radius * np.cos(theta), radius * np.sin(theta)], axis=1)
        target_area = rng.uniform(self.min_coverage, self.max_coverage) * height * width
        points *= math.sqrt(target_area / _polygon_area(points))
        offset = [
            _random_offset(points[:, axis].min(), points[:, axis].max(), side, rng)
            for axis, side in ((0, width), (1, height))
        ]
        scale = 2**self._SUBPIXEL_BITS
        polygon = np.round((points + offset) * scale).astype(np.int32)
        hole = np.zeros((height, width), np.uint8)
        cv2.fillPoly(hole, [polygon], 1, lineType=cv2.LINE_8, shift=self._SUBPIXEL_BITS)
        return hole

    def get_config(self):
        return {
            "min_coverage": self.min_coverage,
            "max_coverage": self.max_coverage,
            "num_harmonics": self.num_harmonics,
            "roughness": self.roughness,
            "num_points": self.num_points,
        }


class FolderMask(MaskGenerator):
    """Masks read from image files in a folder (e.g. NVIDIA's irregular mask set).

    Each call picks one file uniformly (with ``rng``), reads it with `load_mask` (luminance
    scaled to [0, 1], hole where it exceeds `threshold`, nearest-neighbour resize to the
    requested size) and flips it left-right and, independently, top-bottom, each with
    probability `flip_probability`. Files with the extensions in `MASK_FILE_EXTENSIONS`
    (any case) directly inside `path` are used; subfolders are not searched.

    Measured hole ratio at 256x256 on the 1200 NVIDIA irregular test masks in the project's
    shared data (200 per 10 % bin from 1-10 % to 50-60 %, 1000 draws): mean 0.287, 5th
    percentile 0.046, 95th percentile 0.554 (``python -c "from keras_inpaint import masks;
    print(masks.measure_hole_ratio(masks.FolderMask('../shared/data/masks/nvidia-irregular')))"``).
    The ratio depends entirely on the folder.

    Args:
        path: the folder.
        threshold: luminance in [0, 1) above which a pixel is a hole (1 would give no holes).
        flip_probability: probability of each of the two flips.

    Example:
    >>> generator = FolderMask("masks/")  # doctest: +SKIP
    >>> mask = generator(256, 256, np.random.default_rng(0))  # doctest: +SKIP
    """

    def __init__(self, path, threshold=0.5, flip_probability=0.5):
        # A threshold of 1 or more would make every mask all-known.
        _check_number("FolderMask", "threshold", threshold, 0.0, 1.0, "[)")
        _check_number("FolderMask", "flip_probability", flip_probability, 0.0, 1.0, "[]")
        self.path = path
        self.threshold = threshold
        self.flip_probability = flip_probability
        if not os.path.isdir(path):
            raise ValueError(f"mask folder {path!r} does not exist or is not a folder")
        self.files = sorted(
            os.path.join(path, name)
            for name in os.listdir(path)
            if name.lower().endswith(MASK_FILE_EXTENSIONS)
            and os.path.isfile(os.path.join(path, name))
        )
        if not self.files:
            raise ValueError(
                f"mask folder {path!r} holds no mask files; expected files ending in "
                f"{', '.join(MASK_FILE_EXTENSIONS)}"
            )
        self.files, unreadable = _readable_images(self.files)
        if unreadable:
            warnings.warn(
                f"mask folder {path!r}: skipping {len(unreadable)} unreadable file(s) "
                f"({'; '.join(unreadable[:3])}{'; ...' if len(unreadable) > 3 else ''})",
                stacklevel=2,
            )
        if not self.files:
            raise ValueError(f"mask folder {path!r} holds no readable mask file")

    def draw(self, height, width, rng):
        path = self.files[rng.integers(len(self.files))]
        hole = load_mask(path, size=(height, width), threshold=self.threshold)[..., 0]
        return _random_flips(hole, rng, self.flip_probability)

    def get_config(self):
        return {
            "path": self.path,
            "threshold": self.threshold,
            "flip_probability": self.flip_probability,
        }


def _readable_images(paths):
    """``(readable, unreadable)``: the paths whose files PIL verifies (format, chunks and their
    checksums, without decoding: about 0.2 ms for a 512x512 PNG mask), and ``"path: reason"``
    for the others, so that a corrupt mask is found before training, not when it is drawn."""
    readable, unreadable = [], []
    for path in paths:
        try:
            with Image.open(path) as image:
                image.verify()
        except (OSError, SyntaxError, ValueError) as error:
            unreadable.append(f"{path}: {error}")
        else:
            readable.append(path)
    return readable, unreadable


class UnionMask(MaskGenerator):
    """The union of the holes of several generators, each called with the same ``rng``.

    Yu et al. (2019, DeepFill v2) trained on free-form strokes together with rectangles:
    ``UnionMask([FreeFormMask(), RectangleMask()])`` (spec ``"free_form+rectangle"``), whose
    measured hole ratio at 256x256 (1000 masks) is mean 0.313, 5th percentile 0.208, 95th
    percentile 0.437 (``python -c "from keras_inpaint import masks;
    print(masks.measure_hole_ratio(masks.get_mask_generator('free_form+rectangle')))"``).

    Args:
        generators: a non-empty sequence of mask generators.

    Example:
    >>> union = UnionMask([CenterMask(0.5), RectangleMask(0.25, 0.25)])
    >>> hole_ratio(union(64, 64, np.random.default_rng(0))) >= 0.25
    True
    """

    def __init__(self, generators):
        generators = list(generators)
        if not generators or not all(isinstance(g, MaskGenerator) for g in generators):
            raise ValueError(
                "UnionMask needs a non-empty sequence of MaskGenerator objects, received "
                f"{generators!r}"
            )
        self.generators = generators

    def draw(self, height, width, rng):
        holes = [generator(height, width, rng)[..., 0] for generator in self.generators]
        return np.maximum.reduce(holes)

    def get_config(self):
        return {"generators": self.generators}


_NAMED_GENERATORS = {
    "rectangle": RectangleMask,
    "center": CenterMask,
    "free_form": FreeFormMask,
    "irregular": IrregularMask,
    "blob": BlobMask,
}
_FOLDER_PREFIX = "folder:"


def get_mask_generator(spec):
    """The mask generator named by `spec`.

    Names: ``"rectangle"``, ``"center"``, ``"free_form"``, ``"irregular"``, ``"blob"`` (each
    class with its default arguments) and ``"folder:PATH"`` (`FolderMask`); names joined by
    ``"+"`` give their `UnionMask`, e.g. ``"free_form+rectangle"`` (DeepFill v2's training
    masks). A name may set constructor arguments after a colon, as ``KEY=NUMBER`` pairs
    separated by commas: ``"irregular:max_shapes=24,max_width=26"`` (a number without a point
    or exponent is an int). A folder takes the rest of the spec as its path, so put it last
    (``"free_form+folder:/data/masks"``). A `MaskGenerator` is returned unchanged.

    Example:
    >>> get_mask_generator("free_form+rectangle")  # doctest: +ELLIPSIS
    UnionMask(generators=[FreeFormMask(...), RectangleMask(...)])
    >>> get_mask_generator("irregular:min_width=2,max_shapes=24")
    IrregularMask(min_shapes=4, max_shapes=24, min_width=2, max_width=30.0)
    """
    if isinstance(spec, MaskGenerator):
        return spec
    valid = ", ".join(repr(name) for name in _NAMED_GENERATORS)
    expected = (
        f"one of {valid}, {_FOLDER_PREFIX + 'PATH'!r}, or names joined by '+' "
        "(e.g. 'free_form+rectangle')"
    )
    if not isinstance(spec, str) or not spec:
        raise ValueError(f"mask spec must be {expected}; received {spec!r}")
    generators = []
    rest = spec
    while True:
        if rest.startswith(_FOLDER_PREFIX):
            generators.append(FolderMask(rest[len(_FOLDER_PREFIX) :]))
            break
        part, plus, rest = rest.partition("+")
        name, colon, arguments = part.partition(":")
        # An empty name (a "+" at either end, or "++") is refused like any unknown one.
        if name not in _NAMED_GENERATORS:
            raise ValueError(
                f"unknown mask generator {name!r} in spec {spec!r}; expected {expected}"
            )
        generators.append(_named_generator(name, arguments if colon else None, spec))
        if not plus:
            break
    return generators[0] if len(generators) == 1 else UnionMask(generators)


def _named_generator(name, arguments, spec):
    """``_NAMED_GENERATORS[name](**arguments)`` for the ``KEY=NUMBER,...`` text `arguments`
    (None: the defaults); a ValueError naming `spec` for a malformed pair or an unknown key."""
    cls = _NAMED_GENERATORS[name]
    if arguments is None:
        return cls()
    known = list(inspect.signature(cls).parameters)
    keywords = {}
    for pair in arguments.split(","):
        key, equals, text = (piece.strip() for piece in pair.partition("="))
        number = _parse_number(text)
        if not equals or number is None or key not in known or key in keywords:
            raise ValueError(
                f"bad argument {pair!r} for mask generator {name!r} in spec {spec!r}; expected "
                f"KEY=NUMBER pairs separated by commas, each key once, keys from {known}"
            )
        keywords[key] = number
    return cls(**keywords)


def _parse_number(text):
    """`text` as an int (digits with an optional sign) or a float; None if it is neither."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return None


def sample_mask(generator, height, width, seed, index):
    """The mask number `index` of the stream keyed by `seed`: ``generator(height, width, rng)``
    with ``rng = np.random.default_rng([seed, index])``.

    The same ``(seed, index)`` always gives the same mask, independent of what was drawn
    before, so a data pipeline restarted at element ``index`` reproduces its masks. `seed` and
    `index` must be non-negative integers and `height`, `width` positive integers (NumPy
    integer scalars are fine, as passed by ``tf.numpy_function``); anything else, e.g. a
    float that would be truncated, is a ValueError.

    Example:
    >>> a = sample_mask(FreeFormMask(), 64, 64, seed=3, index=7)
    >>> b = sample_mask(FreeFormMask(), 64, 64, seed=3, index=7)
    >>> bool((a == b).all())
    True
    """
    height, width = _check_size(height, width)
    keys = [
        _check_number("sample_mask", name, value, 0, integer=True)
        for name, value in (("seed", seed), ("index", index))
    ]
    return generator(height, width, np.random.default_rng([int(key) for key in keys]))


def hole_ratio(mask):
    """Fraction of hole pixels: ``mean(mask > 0.5)``.

    A single mask ``(H, W)`` or ``(H, W, 1)`` gives a float; a batch ``(B, H, W, 1)`` gives a
    float64 array of shape ``(B,)``. Accepts NumPy arrays and eager tensors.

    Example:
    >>> hole_ratio(CenterMask()(16, 16, np.random.default_rng(0)))
    0.25
    """
    hole = np.asarray(mask) > 0.5
    if hole.ndim in (2, 3):
        return float(hole.mean())
    if hole.ndim == 4:
        return hole.mean(axis=(1, 2, 3))
    raise ValueError(
        f"mask must have shape (H, W), (H, W, 1) or (B, H, W, 1), received shape {hole.shape}"
    )


def measure_hole_ratio(
    generator, height=REFERENCE_SIZE, width=REFERENCE_SIZE, samples=1000, seed=0
):
    """Hole-ratio statistics of `generator`: ``{"mean", "p5", "p95"}`` over `samples` masks
    ``sample_mask(generator, height, width, seed, i)``, i = 0..samples-1, rounded to 3 decimals.

    This is how the numbers in the generators' docstrings were measured.

    Example:
    >>> measure_hole_ratio(CenterMask(), samples=10)
    {'mean': 0.25, 'p5': 0.25, 'p95': 0.25}
    """
    ratios = [
        hole_ratio(sample_mask(generator, height, width, seed, index)) for index in range(samples)
    ]
    return {
        "mean": round(float(np.mean(ratios)), 3),
        "p5": round(float(np.percentile(ratios, 5)), 3),
        "p95": round(float(np.percentile(ratios, 95)), 3),
    }


def load_mask(path, size=None, threshold=0.5):
    """Read a mask image file: float32 ``(H, W, 1)``, 1 = hole.

    The file's luminance is scaled to [0, 1] and a pixel is a hole where it exceeds
    `threshold`. Modes: 1-bit and 8-bit grey (divided by 255), 16-bit grey (PIL modes
    ``I;16*``, and ``I``, which PIL uses for some 16-bit files; divided by 65535), float
    (``F``, taken as already in [0, 1]), and every colour mode (RGB, palette, CMYK...),
    whose luminance is ``0.299 R + 0.587 G + 0.114 B`` of the 8-bit RGB conversion. **Alpha**
    (RGBA, LA, palette transparency): the picture is composited over black, i.e. the luminance
    is multiplied by alpha / 255, so transparent pixels are known and an opaque white stroke
    on a transparent background is a hole. (Masks that mark holes by transparency alone, as
    some image editors export them, must be converted first, e.g. to ``255 - alpha``.)

    Args:
        path: the image file.
        size: None to keep the file's size, an int for a square, or ``(height, width)``; the
            thresholded mask is resized with nearest-neighbour interpolation.
        threshold: luminance in [0, 1] above which a pixel is a hole.

    Example:
    >>> mask = load_mask("mask.png", size=256)  # doctest: +SKIP
    """
    try:
        with Image.open(path) as image:
            image.load()
            luminance = _luminance(image)
    except (OSError, SyntaxError, ValueError) as error:
        raise ValueError(f"cannot read mask file {path!r}: {error}") from error
    hole = (luminance > threshold).astype(np.uint8)
    if size is not None:
        height, width = _check_size(*((size, size) if isinstance(size, int) else size))
        hole = cv2.resize(hole, (width, height), interpolation=cv2.INTER_NEAREST_EXACT)
    return hole.astype(np.float32)[..., None]


def _luminance(image):
    """Luminance in [0, 1] of a PIL image as float32 (H, W); see `load_mask` for the modes."""
    if image.mode in _SIXTEEN_BIT_MODES:
        return np.asarray(image, np.float32) / _SIXTEEN_BIT_MAX
    if image.mode == "F":
        return np.asarray(image, np.float32)
    if image.mode in ("1", "L"):
        return np.asarray(image.convert("L"), np.float32) / _EIGHT_BIT_MAX
    rgba = np.asarray(image.convert("RGBA"), np.float32) / _EIGHT_BIT_MAX
    return (rgba[..., :3] @ LUMA_WEIGHTS) * rgba[..., 3]


def _check_size(height, width):
    """(height, width) as positive Python ints, or a ValueError."""
    if not all(isinstance(side, (int, np.integer)) and side > 0 for side in (height, width)):
        raise ValueError(
            f"mask height and width must be positive integers, received ({height!r}, {width!r})"
        )
    return int(height), int(width)


def _check_number(owner, name, value, low=-math.inf, high=math.inf, bounds="[)", integer=False):
    """`value` if it is a finite real number (an integer when `integer`; never a bool or a
    string) in the interval from `low` to `high`, `bounds` giving its brackets ("[" closed, "("
    open); otherwise a ValueError naming `owner`'s argument `name` and the value received.

    Checked at construction so that a bad argument fails there, not deep inside NumPy or
    OpenCV at the first call (or never, giving empty or full masks).
    """
    valid = (
        is_finite_number(value, integer=integer)
        and (low <= value if bounds[0] == "[" else low < value)
        and (value <= high if bounds[1] == "]" else value < high)
    )
    if not valid:
        kind = "an integer" if integer else "a finite number"
        raise ValueError(
            f"{owner} {name} must be {kind} in {bounds[0]}{low}, {high}{bounds[1]}, "
            f"received {value!r}"
        )
    return value


def _check_range(
    owner, name, low_value, high_value, low, high=math.inf, bounds="[)", integer=False
):
    """`_check_number` for the pair ``min_NAME``, ``max_NAME``, which must also be ordered."""
    for end, value in (("min", low_value), ("max", high_value)):
        _check_number(owner, f"{end}_{name}", value, low, high, bounds, integer)
    if low_value > high_value:
        raise ValueError(
            f"{owner} needs min_{name} <= max_{name}, received min_{name}={low_value!r}, "
            f"max_{name}={high_value!r}"
        )


def _scaled_width(width_at_reference, height, width):
    """A brush width given at 256x256, scaled by the image diagonal, as an int >= 1."""
    scale = math.hypot(height, width) / math.hypot(REFERENCE_SIZE, REFERENCE_SIZE)
    return max(1, int(width_at_reference * scale))


def _draw_stroke(hole, vertices, brush):
    """A polyline of width `brush` through `vertices` (N, 2) int32 (x, y) with discs at them."""
    cv2.polylines(hole, [vertices], isClosed=False, color=1, thickness=brush)
    for x, y in vertices:
        cv2.circle(hole, (int(x), int(y)), brush // 2, 1, thickness=-1)


def _random_flips(hole, rng, probability):
    """Flip `hole` left-right and top-bottom, each with `probability`.

    Two uniforms are always drawn, so the stream of random numbers does not depend on
    `probability` (a mask drawn with probability 0 and 1 from the same rng differ only by the
    flips).
    """
    flip_left_right, flip_top_bottom = rng.random(2) < probability
    if flip_left_right:
        hole = hole[:, ::-1]
    if flip_top_bottom:
        hole = hole[::-1, :]
    return np.ascontiguousarray(hole)


def _polygon_area(points):
    """Area of a simple polygon (N, 2) by the shoelace formula."""
    x, y = points[:, 0], points[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def _random_offset(low, high, side, rng):
    """A uniform shift placing the interval [low, high] inside [0, side - 1], or centring it."""
    first, last = -low, side - 1 - high
    if first > last:
        return (side - 1) / 2.0 - (low + high) / 2.0
    return rng.uniform(first, last)
