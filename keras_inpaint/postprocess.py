"""Post-processing of inpainted images and classical (non-learned) inpainting baselines.

Everything here is NumPy + OpenCV, runs outside the TensorFlow graph and takes images as float
arrays in [0, 1], ``[H, W, 3]`` or a batch ``[B, H, W, 3]``, with masks ``[H, W, 1]`` /
``[B, H, W, 1]`` whose nonzero entries are holes. Known pixels always come back bit-identical
to the input image.

- `poisson_blend(image, mask, filled)`: Iizuka et al.'s colour-consistency fix (fast marching,
  then Poisson blending of the network's output into the known region). Selected by name with
  `get_postprocessor("poisson")` (``--postprocess poisson`` on the command line).
- `telea(image, mask)` and `navier_stokes(image, mask)`: OpenCV's fills, and
  `ClassicalInpainter`, which calls them the way the models are called, so that evaluations
  can put them side by side (names ``telea`` and ``navier_stokes``).
- `poisson_blend_tf` (imported on first use from `keras_inpaint.poisson`): the same Poisson
  step with TensorFlow ops, for graphs that must run without Python (TF Serving).

Two OpenCV behaviours are handled here (both seen on OpenCV 5.0):
- ``cv2.inpaint`` reads some hole pixels next to the image border as if they were known, so
  its fill there changes with the hole's content. `_fast_marching_fill` zeroes the hole first:
  the fill depends on the known pixels only, which matters when an evaluation passes the
  ground truth as ``image``.
- ``cv2.seamlessClone`` clears the outermost 1-pixel frame of its mask (in the caller's
  array), solves only on the bounding box of what is left, places that box centred on the
  given point and erodes the mask by 3 pixels before it takes the source's gradients. A hole
  touching the image border therefore loses its border pixels and the box is shifted.
  `poisson_blend` clones each hole region from a window of its own (mirrored beyond the image
  border), dilates the region to make up for the erosion and keeps the mask off the frame, so
  the centre it passes is exact.
"""

import math
import numbers

import cv2
import numpy as np

DEFAULT_RADIUS = 3
"""Radius (pixels) of the neighbourhood OpenCV's fast-marching fills average over."""

_LEVELS = 255.0
"""Largest 8-bit value: OpenCV's inpainting and cloning work on uint8 images."""

_TRUNCATION_OFFSET = 0.5
"""``cv2.seamlessClone`` truncates its float solution to uint8; half a level re-centres it."""

_NO_CONTEXT_VALUE = 0.5
"""Fill of `telea` / `navier_stokes` for an image with no known pixel (mid-grey)."""

_CLONE_FRAME = 1
"""Width (pixels) of the mask frame that ``cv2.seamlessClone`` clears."""

_CLONE_EROSION = 3
"""``cv2.seamlessClone`` erodes its mask this many times with a 3x3 kernel before it takes the
source's gradients (and takes the destination's gradients elsewhere)."""

_CLONE_MARGIN = _CLONE_EROSION + _CLONE_FRAME
"""Window margin (pixels) around a hole region: its clone mask reaches ``_CLONE_EROSION``
pixels past the region, and the frame comes on top."""

_CLONE_KERNEL = np.ones((3, 3), np.uint8)


def _check_batch(image, mask, filled=None):
    """Checks shapes and dtypes; returns ``(images, holes, filled, single)`` as a batch.

    ``images`` and ``filled`` are float32 ``[B, H, W, 3]``, ``holes`` is bool ``[B, H, W]``,
    ``single`` says whether the input was one ``[H, W, 3]`` image.
    """
    image = np.asarray(image)
    if image.ndim not in (3, 4) or image.shape[-1] != 3:
        raise ValueError(
            f"image must have shape [H, W, 3] or [B, H, W, 3], received shape {image.shape}"
        )
    if not np.issubdtype(image.dtype, np.floating):
        raise ValueError(f"image must be float in [0, 1], received dtype {image.dtype}")
    mask = np.asarray(mask)
    expected_mask = image.shape[:-1] + (1,)
    if mask.shape != expected_mask:
        raise ValueError(
            f"mask must have shape {expected_mask} (1 channel, nonzero = hole) for an image of "
            f"shape {image.shape}, received shape {mask.shape}"
        )
    single = image.ndim == 3
    if filled is not None:
        filled = np.asarray(filled)
        if filled.shape != image.shape or not np.issubdtype(filled.dtype, np.floating):
            raise ValueError(
                f"filled must be a float array of the image's shape {image.shape}, received "
                f"shape {filled.shape} and dtype {filled.dtype}"
            )
        filled = np.asarray(filled[None] if single else filled, np.float32)
    images = np.asarray(image[None] if single else image, np.float32)
    holes = (mask[None] if single else mask)[..., 0] != 0
    return images, holes, filled, single


def _check_radius(radius):
    """Raises ValueError unless ``radius`` is a positive number."""
    if isinstance(radius, bool) or not isinstance(radius, numbers.Real) or not radius > 0:
        raise ValueError(f"radius must be a positive number of pixels, received {radius!r}")


def _to_levels(image):
    """Float image in [0, 1] -> uint8 (rounded, clipped)."""
    return np.clip(np.rint(image * _LEVELS), 0, _LEVELS).astype(np.uint8)


def _composite(image, hole, fill):
    """Known pixels from ``image``, hole pixels from ``fill`` (float32, [0, 1])."""
    return np.where(hole[..., None], np.clip(fill, 0.0, 1.0), image).astype(np.float32)


def _fast_marching_fill(image, hole, radius, method):
    """``cv2.inpaint`` of one image, depending on its known pixels only.

    Args:
        image: uint8 ``[H, W, 3]``.
        hole: uint8 ``[H, W]``, 255 = hole (at least one pixel known).
        radius: neighbourhood radius in pixels.
        method: ``cv2.INPAINT_TELEA`` or ``cv2.INPAINT_NS``.

    Returns:
        uint8 ``[H, W, 3]``: the fill in the hole, ``image`` elsewhere.
    """
    return cv2.inpaint(np.where(hole[..., None] > 0, np.uint8(0), image), hole, radius, method)


def _classical_fill(image, mask, radius, method):
    """Shared body of `telea` and `navier_stokes` (single image or batch)."""
    _check_radius(radius)
    images, holes, _, single = _check_batch(image, mask)
    results = np.empty_like(images)
    for index, (one_image, hole) in enumerate(zip(images, holes)):
        if hole.all():
            fill = np.full_like(one_image, _NO_CONTEXT_VALUE)
        elif hole.any():
            hole_levels = hole.astype(np.uint8) * np.uint8(_LEVELS)
            fill = _fast_marching_fill(_to_levels(one_image), hole_levels, radius, method)
            fill = fill / np.float32(_LEVELS)
        else:
            fill = one_image
        results[index] = _composite(one_image, hole, fill)
    return results[0] if single else results


def telea(image, mask, radius=DEFAULT_RADIUS):
    """Fills holes by fast marching (Telea 2004), through ``cv2.inpaint``.

    Pixels are filled in order of their distance ``T`` to the known region (the fast-marching
    solution of ``|grad T| = 1``); each hole pixel ``p`` becomes a weighted mean over the
    already-known pixels ``q`` within ``radius``, each extrapolated to ``p`` by its gradient,
    ``I(p) = sum_q w(p, q) [I(q) + grad I(q) . (p - q)] / sum_q w(p, q)``, with weights
    favouring nearby pixels, pixels along the normal of the fill front and pixels on the same
    level set of ``T``. OpenCV caps the gradient term near one grey level, which makes its
    fill close to a weighted mean. The image is filled at 8 bits. The fill uses the known
    pixels only (holes are zeroed first; OpenCV otherwise reads some hole pixels near the
    image border). An image with no known pixel is filled with mid-grey.

    Args:
        image: float ``[H, W, 3]`` or ``[B, H, W, 3]`` in [0, 1].
        mask: ``[H, W, 1]`` or ``[B, H, W, 1]``, nonzero = hole.
        radius: neighbourhood radius in pixels.

    Returns:
        float32 array of ``image``'s shape; known pixels equal to ``image``.

    Example:
    >>> import numpy as np
    >>> image = np.full((16, 16, 3), 0.25, np.float32)
    >>> mask = np.zeros((16, 16, 1), np.float32); mask[4:12, 4:12] = 1
    >>> bool(np.all(np.abs(telea(image, mask) - 0.25) < 0.05))
    True

    Reference: A. Telea, "An Image Inpainting Technique Based on the Fast Marching Method",
    Journal of Graphics Tools 9(1), 2004.
    """
    return _classical_fill(image, mask, radius, cv2.INPAINT_TELEA)


def navier_stokes(image, mask, radius=DEFAULT_RADIUS):
    """Fills holes by the Navier-Stokes method (Bertalmio et al. 2001), through ``cv2.inpaint``.

    Image intensity is treated as a stream function of a 2-D incompressible fluid: the fill
    transports the smoothness (the Laplacian) along isophotes,
    ``grad(Laplacian I) . grad-perp(I) = 0``, so edges entering the hole are continued. OpenCV
    marches pixels in from the hole boundary like `telea` and uses ``radius`` the same way.
    Same conventions as `telea` (8-bit fill, known pixels only, mid-grey without context).

    Args:
        image: float ``[H, W, 3]`` or ``[B, H, W, 3]`` in [0, 1].
        mask: ``[H, W, 1]`` or ``[B, H, W, 1]``, nonzero = hole.
        radius: neighbourhood radius in pixels.

    Returns:
        float32 array of ``image``'s shape; known pixels equal to ``image``.

    Example:
    >>> import numpy as np
    >>> image = np.full((2, 16, 16, 3), 0.75, np.float32)
    >>> mask = np.zeros((2, 16, 16, 1), np.float32); mask[:, 5:9, 5:12] = 1
    >>> navier_stokes(image, mask).shape
    (2, 16, 16, 3)

    Reference: M. Bertalmio, A. L. Bertozzi, G. Sapiro, "Navier-Stokes, Fluid Dynamics, and
    Image and Video Inpainting", CVPR 2001.
    """
    return _classical_fill(image, mask, radius, cv2.INPAINT_NS)


def _window_axis(start, stop, size, margin):
    """One axis of the window around a hole region spanning ``[start, stop)`` of ``size``.

    The window reaches ``margin`` pixels past the region; beyond the image border its pixels
    are the mirror image (edge pixel repeated). If the region touches a border, the window
    holds the region's whole mirror image on that side, so that the blend is symmetric about
    the border (no flux across it).

    Returns:
        ``(indices, offset)``: image indices of the window's pixels along the axis, and the
        window position of ``start``.
    """
    low = -stop - margin if start == 0 else start - margin
    high = 2 * size - start + margin if stop == size else stop + margin
    positions = np.arange(low, high) % (2 * size)
    return np.where(positions < size, positions, 2 * size - 1 - positions), start - low


def _extend_outwards(source, hole, radius):
    """Extends the holes' content of ``source`` over the known pixels near them.

    Fast marching from the hole pixels into a band of known pixels wide enough that the band's
    outer pixels (which the fill also treats as known) lie beyond the fill radius of every
    pixel a clone mask can cover.

    Args:
        source: uint8 ``[h, w, 3]``.
        hole: uint8 ``[h, w]``, 255 = hole.
        radius: fill radius in pixels.
    """
    reach = _CLONE_MARGIN + math.ceil(radius)
    band = cv2.dilate(hole, np.ones((2 * reach + 1, 2 * reach + 1), np.uint8))
    band[hole > 0] = 0
    return _fast_marching_fill(source, band, radius, cv2.INPAINT_TELEA)


def _clone_mask(in_region):
    """``cv2.seamlessClone`` mask (uint8, 255 = clone) for a region (bool ``[h, w]``).

    OpenCV takes the source's gradients where its mask, eroded by 3 pixels, is set; the region
    dilated by 3 comes back as the region after that erosion (plus the gaps narrower than
    7 pixels that dilation closes). The frame, which OpenCV clears anyway, is cleared here so
    that the mask's bounding box is the one OpenCV uses.
    """
    mask = cv2.dilate(
        in_region.astype(np.uint8) * np.uint8(_LEVELS), _CLONE_KERNEL, iterations=_CLONE_EROSION
    )
    mask[[0, -1], :] = 0
    mask[:, [0, -1]] = 0
    return mask


def _clone_regions(image, hole, filled, radius):
    """`poisson_blend` of one image: float32 ``[H, W, 3]`` x2 and bool ``[H, W]``."""
    if not hole.any():
        return image
    if hole.all():
        return _composite(image, hole, filled)
    hole_levels = hole.astype(np.uint8) * np.uint8(_LEVELS)
    destination = _fast_marching_fill(_to_levels(image), hole_levels, radius, cv2.INPAINT_TELEA)
    source = _to_levels(filled)
    blended = destination.astype(np.float32)
    count, labels, boxes, _ = cv2.connectedComponentsWithStats(hole_levels, connectivity=8)
    for label in range(1, count):
        left, top, width, height = (int(value) for value in boxes[label, :4])
        rows, row_offset = _window_axis(top, top + height, hole.shape[0], _CLONE_MARGIN)
        cols, col_offset = _window_axis(left, left + width, hole.shape[1], _CLONE_MARGIN)
        window = np.ix_(rows, cols)
        extended_source = _extend_outwards(source[window], hole_levels[window], radius)
        clone_mask = _clone_mask(labels[window] == label)
        box_left, box_top, box_width, box_height = cv2.boundingRect(clone_mask)
        cloned = cv2.seamlessClone(
            extended_source,
            destination[window],
            clone_mask,
            (box_left + box_width // 2, box_top + box_height // 2),
            cv2.NORMAL_CLONE,
        )
        box = np.s_[top : top + height, left : left + width]
        region = labels[box] == label
        inner = cloned[row_offset : row_offset + height, col_offset : col_offset + width]
        blended[box][region] = inner[region] + _TRUNCATION_OFFSET
    return _composite(image, hole, blended / _LEVELS)


def poisson_blend(image, mask, filled, radius=DEFAULT_RADIUS):
    """Iizuka et al.'s colour-consistency fix: fast marching, then Poisson blending.

    A network's fill can match its surroundings in structure but not in colour. Iizuka et al.
    (2017, sec. 3.4) apply "the fast marching method followed by Poisson image blending".
    What is done here, per image:

    1. ``destination``: the image with every hole filled by fast marching (`telea`) from the
       known pixels, so that every pixel edge leading into a hole has a smooth step.
    2. For each connected hole region (8-connectivity), in a window around it: ``source`` is
       ``filled`` in the holes and, on the known pixels next to them, the holes' content
       extended outwards by fast marching. Only the hole content of ``filled`` is used, so
       a composited output (with its step at the hole boundary) and a raw one blend alike.
    3. ``cv2.seamlessClone`` (NORMAL_CLONE, Pérez et al. 2003) of the source into the
       destination. On a box ``R`` (the region's bounding box plus 3 pixels) it solves
       ``Laplacian(x) = div(v)`` with ``x = destination`` on the edge of ``R``. The guidance
       ``v`` is the source's gradient, as forward differences ``I(p + 1) - I(p)``, at the
       region's pixels ``p`` (and in known gaps narrower than about 7 pixels, which OpenCV's
       3-pixel mask erosion closes over) and the destination's gradient elsewhere: the
       known image, the fast-marching step on edges entering the region from the left or
       from above, the fill of other holes. The hole's colours are thus set by the known
       pixels around it and its structure by the network. Beyond the image border the
       window is the mirror image (zero flux across the border, as in `poisson_blend_tf`).
    4. Known pixels are copied from ``image``.

    Limits: OpenCV works at 8 bits, so hole pixels are quantised to about 1/255. OpenCV's fast
    marching is close to a weighted mean (its gradient term is capped near one grey level),
    so the steps it gives across the hole boundary (in 1 and 2) are nearly flat: where the
    content has a steep gradient across the boundary the blend can be off by about one
    pixel's worth of that gradient. A perfect fill (``filled`` = the true image) comes back
    within about 2-4 grey levels on average on smooth test images.

    Args:
        image: float ``[H, W, 3]`` or ``[B, H, W, 3]`` in [0, 1]: the known pixels (hole
            content is ignored).
        mask: ``[H, W, 1]`` or ``[B, H, W, 1]``, nonzero = hole.
        filled: float array of ``image``'s shape: the network's output (composited or not;
            only its hole pixels are used).
        radius: neighbourhood radius of the fast-marching fills in pixels.

    Returns:
        float32 array of ``image``'s shape in [0, 1]. Known pixels equal ``image`` exactly; an
        empty mask returns ``image``; an all-hole image has no boundary to blend with and
        returns ``filled`` (clipped to [0, 1]).

    Example:
    >>> import numpy as np
    >>> y, x = np.mgrid[0:32, 0:32] / 32.0
    >>> image = np.stack([0.2 + 0.5 * x, 0.3 + 0.4 * y, 0.5 + 0.2 * x], -1).astype(np.float32)
    >>> mask = np.zeros((32, 32, 1), np.float32); mask[8:24, 8:24] = 1
    >>> filled = np.where(mask > 0, image + 0.2, image)  # right structure, wrong colour
    >>> out = poisson_blend(image, mask, filled)
    >>> bool(np.abs(out - image).max() < 0.05)
    True

    References: S. Iizuka, E. Simo-Serra, H. Ishikawa, "Globally and Locally Consistent Image
    Completion", SIGGRAPH 2017; P. Pérez, M. Gangnet, A. Blake, "Poisson Image Editing",
    SIGGRAPH 2003; A. Telea, Journal of Graphics Tools 9(1), 2004.
    """
    _check_radius(radius)
    images, holes, filled, single = _check_batch(image, mask, filled)
    results = np.stack([_clone_regions(*arrays, radius) for arrays in zip(images, holes, filled)])
    return results[0] if single else results


CLASSICAL_METHODS = {"telea": telea, "navier_stokes": navier_stokes}
"""Classical fills by name: ``fill(image, mask, radius)``."""


class ClassicalInpainter:
    """A classical fill (`telea` or `navier_stokes`) called the way the models are called.

    ``inpainter({"image": [B, H, W, 3], "mask": [B, H, W, 1]})`` returns the composited
    ``[B, H, W, 3]`` float32 result, like a model's ``model({"image": ..., "mask": ...})``
    (images in [0, 1], mask nonzero = hole), so that evaluation code can run it beside the
    networks. It has no weights; ``name`` is the method's name.

    Args:
        method: ``"telea"`` (Telea 2004) or ``"navier_stokes"`` (Bertalmio et al. 2001).
        radius: neighbourhood radius of the fill in pixels.

    Example:
    >>> import numpy as np
    >>> inpainter = ClassicalInpainter("navier_stokes")
    >>> batch = {"image": np.full((2, 16, 16, 3), 0.5, np.float32),
    ...          "mask": np.zeros((2, 16, 16, 1), np.float32)}
    >>> inpainter(batch).shape, inpainter.name
    ((2, 16, 16, 3), 'navier_stokes')
    """

    def __init__(self, method="telea", radius=DEFAULT_RADIUS):
        if method not in CLASSICAL_METHODS:
            raise ValueError(
                f"method must be one of {sorted(CLASSICAL_METHODS)}, received {method!r}"
            )
        _check_radius(radius)
        self.method = method
        self.radius = radius
        self.name = method

    def __call__(self, inputs, training=None):
        """Fills ``inputs["image"]`` where ``inputs["mask"]`` is nonzero.

        ``training`` is accepted (and ignored) so that code calling a `keras.Model` as
        ``model(batch, training=False)`` can call this too.
        """
        if not isinstance(inputs, dict) or not {"image", "mask"} <= set(inputs):
            received = sorted(inputs) if isinstance(inputs, dict) else type(inputs).__name__
            raise ValueError(
                f"inputs must be a dict with keys 'image' and 'mask', received {received}"
            )
        image = np.asarray(inputs["image"])
        if image.ndim != 4:
            raise ValueError(
                f"image must have shape [B, H, W, 3], received shape {image.shape}"
            )
        return CLASSICAL_METHODS[self.method](image, inputs["mask"], self.radius)

    def get_config(self):
        return {"method": self.method, "radius": self.radius}


def _no_postprocess(image, mask, filled):
    """Identity post-processor: returns ``filled`` unchanged."""
    return filled


POSTPROCESSORS = {"poisson": poisson_blend}
"""Post-processors by name: ``postprocess(image, mask, filled) -> image``."""


def get_postprocessor(name):
    """Returns the post-processor called ``name``; ``None`` gives the identity.

    Example:
    >>> get_postprocessor("poisson") is poisson_blend
    True
    """
    if name is None:
        return _no_postprocess
    if name not in POSTPROCESSORS:
        raise ValueError(
            f"Unknown postprocessor {name!r}; expected None or one of {sorted(POSTPROCESSORS)}"
        )
    return POSTPROCESSORS[name]


def __getattr__(name):
    """Imports `poisson_blend_tf` (and TensorFlow) only when it is asked for."""
    if name == "poisson_blend_tf":
        from keras_inpaint.poisson import poisson_blend_tf

        return poisson_blend_tf
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
