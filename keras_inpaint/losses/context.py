"""Yeh et al. (2017)'s weighted context loss and prior loss for inpainting by latent search.

R. Yeh, C. Chen, T. Y. Lim, A. Schwing, M. Hasegawa-Johnson, M. Do, "Semantic Image Inpainting
with Deep Generative Models", CVPR 2017, section 3.2. Both losses return one value per sample
(``[B]``) so that a latent search over a batch of candidates can pick the best one.
"""

from keras import ops

from keras_inpaint.losses.reconstruction import (
    as_float32,
    check_images,
    check_mask,
    check_mask_rank,
)


def context_weights(mask, window=7):
    """Importance weights of Yeh et al. (2017, eq. 3): on each **known** pixel, the fraction of
    **missing** pixels in the ``window x window`` neighbourhood centred on it; 0 on holes.

    ``W_i = (1 - m_i) * sum_{j in N(i)} m_j / window^2`` with ``m`` = mask (1 = hole). Known
    pixels far from the hole get 0 and the ones bordering it the most, so the context loss
    attends to the surroundings of the hole. The weights sit on known pixels and grow with the
    number of missing neighbours: in Yeh et al.'s formula ``W_i = sum_{j in N(i)} (1 - M_j) /
    |N(i)|`` for ``M_i != 0``, M is 1 on known pixels; reading M as the hole mask (as the
    project's paper notes and at least one public re-implementation do) inverts the weights.
    Borders: the neighbourhood is zero padded, i.e. pixels outside the image count as known
    and the divisor is always ``window^2``, as a convolution with a ones kernel gives. The
    weights carry no gradient; computed in float32.

    Args:
        mask: ``[B, H, W, 1]``, 1 = hole.
        window: odd neighbourhood size (7 in the paper).

    Returns:
        float32 ``[B, H, W, 1]`` in [0, 1).

    Example:
    >>> mask = np.zeros((1, 5, 5, 1), "float32"); mask[0, 2, 2] = 1
    >>> weights = context_weights(mask, window=3)  # 1/9 on the 8 neighbours, 0 elsewhere
    """
    hole = check_mask_rank(mask)
    if not isinstance(window, int) or window < 1 or window % 2 == 0:
        raise ValueError(f"window must be a positive odd integer, received {window!r}")
    kernel = ops.ones((window, window, 1, 1), "float32") / float(window * window)
    missing_fraction = ops.conv(hole, kernel, padding="same")
    return ops.stop_gradient((1.0 - hole) * missing_fraction)


def context_loss(generated, corrupted, mask, window=7):
    """Weighted context loss of Yeh et al. (2017, eq. 4), one value per sample:

    ``L_c[b] = sum_{h,w,c} W[b,h,w] * |G(z)[b,h,w,c] - y[b,h,w,c]|`` with
    ``W = context_weights(mask, window)`` broadcast over channels (an L1 norm, summed, not
    averaged, as in the paper). Hole pixels of `corrupted` are ignored (their weight is 0).

    Args:
        generated: generator outputs ``G(z)``, ``[B, H, W, C]``.
        corrupted: the image with holes ``y``, ``[B, H, W, C]`` (same range as `generated`).
        mask: ``[B, H, W, 1]``, 1 = hole.
        window: neighbourhood size of the weights.

    Returns:
        float32 ``[B]``.

    Example:
    >>> mask = np.zeros((2, 8, 8, 1), "float32"); mask[:, 2:6, 2:6] = 1
    >>> loss = context_loss(np.ones((2, 8, 8, 3)), np.zeros((2, 8, 8, 3)), mask)  # shape [2]
    """
    generated, corrupted = check_images(generated, corrupted, names=("generated", "corrupted"))
    weights = context_weights(check_mask(mask, generated), window=window)
    return ops.sum(weights * ops.abs(generated - corrupted), axis=(1, 2, 3))


def prior_loss(fake_logits, weight=0.003):
    """Prior loss of Yeh et al. (2017, eq. 5), one value per sample:

    ``L_p[b] = weight * log(1 - D(G(z))) = -weight * softplus(logit)``, computed stably from the
    discriminator's logits and averaged over any non-batch axes (patch scores). Minimising it
    pushes ``D(G(z))`` towards "real"; it is negative and unbounded below, as in the paper.

    Args:
        fake_logits: discriminator logits of ``G(z)``, shape ``[B]`` or ``[B, ...]``.
        weight: lambda (0.003 in the paper).

    Returns:
        float32 ``[B]``.

    Example:
    >>> loss = prior_loss(np.zeros((4, 1)))  # -0.003 * log 2 each
    """
    logits = as_float32(fake_logits)
    if len(ops.shape(logits)) == 0:
        raise ValueError("fake_logits must have a batch axis, received a scalar")
    per_sample = ops.reshape(logits, (ops.shape(logits)[0], -1))
    return -weight * ops.mean(ops.softplus(per_sample), axis=1)
