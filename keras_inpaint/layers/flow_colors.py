"""Colour-coded pictures of 2-D offset fields (the Middlebury optical-flow colour wheel).

Yu et al. (2018) draw the attention of their contextual attention layer as such a picture: the
hue says in which direction a position copies from, the saturation how far, relative to the
farthest copy in the picture. The colour wheel is the one of Baker et al., "A Database and
Evaluation Methodology for Optical Flow", IJCV 2011 (55 hues: 15 red-yellow, 6 yellow-green,
4 green-cyan, 11 cyan-blue, 13 blue-magenta, 6 magenta-red).
"""

import numpy as np
import tensorflow as tf

COLOR_WHEEL_SEGMENTS = (
    # (number of hues, channel held at 255, channel that ramps, ramp rises (True) or falls)
    (15, 0, 1, True),  # red -> yellow
    (6, 1, 0, False),  # yellow -> green
    (4, 1, 2, True),  # green -> cyan
    (11, 2, 1, False),  # cyan -> blue
    (13, 2, 0, True),  # blue -> magenta
    (6, 0, 2, False),  # magenta -> red
)
"""The Middlebury colour wheel, segment by segment."""

FULL_INTENSITY = 255
"""8-bit intensity scale the wheel is defined on (and the picture is quantised to)."""

OUTSIDE_UNIT_DISC_DIMMING = 0.75
"""Colours of offsets longer than the normalising radius are darkened by this factor."""


def middlebury_color_wheel():
    """The Middlebury colour wheel as a float32 array of shape [55, 3], values in [0, 255].

    Hue k of a segment of n hues ramps one channel as floor(255 * k / n) (rising) or
    255 - floor(255 * k / n) (falling) while another channel stays at 255.

    Example:
    >>> middlebury_color_wheel()[0]  # pure red
    array([255.,   0.,   0.], dtype=float32)
    """
    rows = []
    for length, held, ramped, rising in COLOR_WHEEL_SEGMENTS:
        ramp = np.floor(FULL_INTENSITY * np.arange(length) / length)
        segment = np.zeros((length, 3))
        segment[:, held] = FULL_INTENSITY
        segment[:, ramped] = ramp if rising else FULL_INTENSITY - ramp
        rows.append(segment)
    return np.concatenate(rows).astype("float32")


def flow_to_color(offsets):
    """Colour-code a field of 2-D offsets with the Middlebury colour wheel.

    For each sample, offsets (u, v) = (row offset, column offset) are divided by the sample's
    largest length (a sample whose offsets are all zero stays zero). With
    rho = sqrt(u^2 + v^2) and a = atan2(-v, -u) / pi, the hue position is
    (a + 1) / 2 * (n - 1) on the n = 55 hue wheel, linearly interpolated between neighbouring
    hues (the last wraps to the first). The colour is then faded to white towards the centre:
    c = 1 - rho * (1 - c) for rho <= 1 (c * 0.75 otherwise), and quantised to 8 bits as
    floor(255 * c) / 255. A zero offset is white.

    This reproduces the pictures of Yu et al.'s code (`flow_to_image`), which passes the row
    offset as u and the column offset as v, with two differences: every sample is normalised by
    its own largest offset (their loop kept a running maximum over the earlier samples of the
    batch, so a picture depended on the samples before it), and the result is in [0, 1] (theirs
    is the same picture mapped to [-1, 1]). Runs in graph mode and under XLA.

    Args:
        offsets: float tensor [B, H, W, 2], (row offset, column offset) per position.

    Returns:
        float32 tensor [B, H, W, 3] in [0, 1].

    Example:
    >>> offsets = tf.constant([[[[0.0, 0.0], [0.0, 2.0]]]])  # [1, 1, 2, 2]
    >>> flow_to_color(offsets).shape
    TensorShape([1, 1, 2, 3])

    Reference: Yu et al., "Generative Image Inpainting with Contextual Attention", CVPR 2018
    (figure 5); Baker et al., IJCV 2011 (the colour wheel).
    """
    offsets = tf.convert_to_tensor(offsets)
    if offsets.shape.rank != 4 or offsets.shape[-1] != 2:
        raise ValueError(
            "offsets must have shape [batch, height, width, 2], "
            f"received shape {tuple(offsets.shape)}"
        )
    offsets = tf.cast(offsets, "float32")
    lengths = tf.norm(offsets, axis=-1, keepdims=True)
    max_length = tf.reduce_max(lengths, axis=[1, 2, 3], keepdims=True)
    u, v = tf.unstack(tf.math.divide_no_nan(offsets, max_length), axis=-1)
    radius = tf.sqrt(u * u + v * v)[..., None]

    wheel = tf.constant(middlebury_color_wheel() / FULL_INTENSITY)
    num_hues = wheel.shape[0]
    angle = tf.math.atan2(-v, -u) / np.pi
    hue = (angle + 1.0) / 2.0 * (num_hues - 1)
    lower = tf.floor(hue)
    fraction = (hue - lower)[..., None]
    lower = tf.cast(lower, "int32")
    upper = (lower + 1) % num_hues
    color = (1.0 - fraction) * tf.gather(wheel, lower) + fraction * tf.gather(wheel, upper)
    color = tf.where(
        radius <= 1.0,
        1.0 - radius * (1.0 - color),
        color * OUTSIDE_UNIT_DISC_DIMMING,
    )
    return tf.floor(FULL_INTENSITY * color) / FULL_INTENSITY
