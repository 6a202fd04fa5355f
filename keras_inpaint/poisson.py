"""Poisson image blending with TensorFlow ops (conjugate gradient in a `tf.while_loop`).

This is the in-graph counterpart of `keras_inpaint.postprocess.poisson_blend` (which uses
OpenCV and therefore cannot run inside a SavedModel served by TF Serving). It is what the
latent-search model (Yeh et al. 2017) uses to blend the generated image into the known region.
"""

import tensorflow as tf

DEFAULT_ITERATIONS = 1000
"""Upper bound on conjugate-gradient iterations in `poisson_blend_tf`."""

DEFAULT_TOLERANCE = 1e-6
"""Relative residual at which `poisson_blend_tf` stops (see its docstring)."""

_LAPLACIAN_NEIGHBOURS = 4
"""Centre weight of the 5-point Laplacian stencil (one per 4-connected neighbour)."""


def _laplacian(x):
    """Graph Laplacian of the 4-connected pixel grid, ``[B, H, W, C] -> [B, H, W, C]``.

    ``(L x)_p = sum over in-image neighbours q of (x_p - x_q)``. Neighbours outside the image
    are left out; symmetric padding makes them equal to ``x_p`` so they contribute 0.
    """
    padded = tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]], mode="SYMMETRIC")
    neighbours = (
        padded[:, :-2, 1:-1, :]
        + padded[:, 2:, 1:-1, :]
        + padded[:, 1:-1, :-2, :]
        + padded[:, 1:-1, 2:, :]
    )
    return _LAPLACIAN_NEIGHBOURS * x - neighbours


def _sum_over_pixels(x):
    """Per-image, per-channel sum: ``[B, H, W, C] -> [B, 1, 1, C]``."""
    return tf.reduce_sum(x, axis=[1, 2], keepdims=True)


def _check_rank_4(tensor, name, channels=None):
    """Raises ValueError unless ``tensor`` is 4-D (and has ``channels`` channels if given)."""
    shape = tensor.shape
    if shape.rank is not None and shape.rank != 4:
        raise ValueError(f"{name} must have shape [B, H, W, C], received shape {tuple(shape)}")
    if channels is not None and shape.rank == 4 and shape[-1] not in (None, channels):
        raise ValueError(f"{name} must have {channels} channel, received shape {tuple(shape)}")


def poisson_blend_tf(
    target, source, mask, iterations=DEFAULT_ITERATIONS, tolerance=DEFAULT_TOLERANCE
):
    """Blends ``source`` into the hole of ``target`` by solving a Poisson equation in-graph.

    Poisson image editing (Pérez et al. 2003, eq. 7) on the 4-connected pixel grid: with
    ``Omega`` the hole (``mask`` nonzero), ``N_p`` the in-image neighbours of pixel ``p``, ``t``
    the target and ``s`` the source, the result ``x`` is ``t`` outside ``Omega`` and inside it
    solves, per channel,

        |N_p| x_p - sum_{q in N_p} x_q = |N_p| s_p - sum_{q in N_p} s_q,   p in Omega,

    i.e. ``Laplacian(x) = Laplacian(s)`` in the hole with the known pixels as fixed (Dirichlet)
    boundary values, matching the source's gradients on every edge that touches the hole.
    Neighbours outside the image are left out of ``N_p`` (a zero-flux, Neumann, condition at
    the image border). The system ``A y = b`` with ``A = D L D`` (``L`` the grid Laplacian,
    ``D`` the diagonal hole indicator) is symmetric positive definite as soon as the image has
    one known pixel, and is solved by conjugate gradient from ``y_0 = s`` (Hestenes & Stiefel
    1952), vectorised over the batch and the channels, inside a `tf.while_loop`. Each
    image-channel stops once ``||r|| <= tolerance * max(||b||, ||r_0||)``; the loop ends when all
    have stopped or after ``iterations`` steps.

    Pure TensorFlow ops (no `tf.py_function`), so it runs under `tf.function` with unknown
    shapes and in an exported SavedModel. An all-known mask returns ``target``. An all-hole
    image has no boundary to anchor the colours: its residual at ``y_0 = s`` is already zero
    and the function returns ``source``. The solve runs in float32 (whatever the inputs'
    dtype); the result has ``target``'s dtype and its known pixels are ``target``'s exactly.

    Args:
        target: ``[B, H, W, C]`` float image whose known pixels are kept (e.g. the photo).
        source: ``[B, H, W, C]`` float image whose gradients fill the hole (e.g. ``G(z)``).
        mask: ``[B, H, W, 1]``, nonzero = hole (the region to solve for).
        iterations: maximum number of conjugate-gradient steps (int or scalar tensor).
        tolerance: relative residual at which an image-channel stops.

    Returns:
        ``[B, H, W, C]`` tensor with ``target``'s dtype.

    Example:
    >>> import numpy as np
    >>> target = np.zeros((1, 8, 8, 3), np.float32)
    >>> source = np.full((1, 8, 8, 3), 0.7, np.float32)  # constant: no gradients to keep
    >>> mask = np.zeros((1, 8, 8, 1), np.float32); mask[:, 2:6, 2:6] = 1
    >>> float(abs(poisson_blend_tf(target, source, mask)).numpy().max()) < 1e-4
    True

    Reference: Pérez, Gangnet & Blake, "Poisson Image Editing", SIGGRAPH 2003; used to blend
    the generated content by Yeh et al., "Semantic Image Inpainting with Deep Generative
    Models", CVPR 2017.
    """
    target = tf.convert_to_tensor(target)
    source = tf.convert_to_tensor(source)
    mask = tf.convert_to_tensor(mask)
    _check_rank_4(target, "target")
    _check_rank_4(source, "source")
    _check_rank_4(mask, "mask", channels=1)
    if not target.dtype.is_floating:
        raise ValueError(f"target must be a float tensor in [0, 1], received dtype {target.dtype}")
    if not target.shape.is_compatible_with(source.shape):
        raise ValueError(
            f"source must have the target's shape {tuple(target.shape)}, received shape "
            f"{tuple(source.shape)}"
        )
    if not target.shape[:-1].is_compatible_with(mask.shape[:-1]):
        raise ValueError(
            f"mask must have shape [B, H, W, 1] matching the target's {tuple(target.shape)}, "
            f"received shape {tuple(mask.shape)}"
        )
    known_values = tf.cast(target, tf.float32)
    guide = tf.cast(source, tf.float32)
    is_hole = tf.not_equal(mask, tf.zeros_like(mask))
    hole = tf.cast(is_hole, tf.float32)
    known = 1.0 - hole

    def system(y):
        return hole * _laplacian(hole * y)

    rhs = hole * (_laplacian(guide) - _laplacian(known * known_values))
    solution = hole * guide
    residual = rhs - system(solution)
    residual_norm = _sum_over_pixels(tf.square(residual))
    threshold = tf.square(tf.cast(tolerance, tf.float32)) * tf.maximum(
        _sum_over_pixels(tf.square(rhs)), residual_norm
    )

    def unfinished(step, solution, residual, direction, residual_norm):
        return tf.logical_and(step < iterations, tf.reduce_any(residual_norm > threshold))

    def conjugate_gradient_step(step, solution, residual, direction, residual_norm):
        active = residual_norm > threshold
        projected = system(direction)
        curvature = _sum_over_pixels(direction * projected)
        alpha = tf.where(active, tf.math.divide_no_nan(residual_norm, curvature), 0.0)
        solution = solution + alpha * direction
        residual = residual - alpha * projected
        new_norm = _sum_over_pixels(tf.square(residual))
        beta = tf.where(active, tf.math.divide_no_nan(new_norm, residual_norm), 0.0)
        direction = residual + beta * direction
        return step + 1, solution, residual, direction, tf.where(active, new_norm, residual_norm)

    _, solution, _, _, _ = tf.while_loop(
        unfinished,
        conjugate_gradient_step,
        (tf.constant(0), solution, residual, residual, residual_norm),
    )
    return tf.where(is_hole, tf.cast(solution, target.dtype), target)
