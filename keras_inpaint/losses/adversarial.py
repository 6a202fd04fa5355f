"""GAN losses: non-saturating (standard), hinge (SN-PatchGAN), Wasserstein with DeepFill v1's
hole-masked gradient penalty.

Discriminator outputs are raw scores (logits) of any shape whose first axis is the batch, e.g.
``[B, 1]`` or SN-PatchGAN's ``[B, h, w, c]``; every loss averages over all of their elements.
Everything is computed in float32 and returns a float32 scalar.
"""

import keras
from keras import ops

from keras_inpaint.losses.reconstruction import as_float32, check_images, check_mask

_NORM_EPSILON = 1e-12
"""Added under the square root of the gradient norm so its derivative stays finite at 0."""


def nonsaturating_discriminator_loss(real_logits, fake_logits):
    """Standard GAN discriminator loss from logits (Goodfellow et al. 2014; Pathak et al.
    2016 eq. 2, Iizuka et al. 2017 eq. 2):

    ``-mean(log sigmoid(real)) - mean(log(1 - sigmoid(fake)))
    = mean(softplus(-real)) + mean(softplus(fake))``, the stable softplus form.

    Example:
    >>> loss = nonsaturating_discriminator_loss(np.zeros((4, 1)), np.zeros((4, 1)))  # 2 log 2
    """
    real_logits, fake_logits = as_float32(real_logits), as_float32(fake_logits)
    return ops.mean(ops.softplus(-real_logits)) + ops.mean(ops.softplus(fake_logits))


def nonsaturating_generator_loss(fake_logits):
    """Non-saturating generator loss from logits: ``-mean(log sigmoid(fake)) =
    mean(softplus(-fake))`` (Goodfellow et al. 2014; Pathak et al. 2016, Iizuka et al. 2017).

    Example:
    >>> loss = nonsaturating_generator_loss(np.zeros((4, 1)))  # log 2
    """
    return ops.mean(ops.softplus(-as_float32(fake_logits)))


def hinge_discriminator_loss(real_logits, fake_logits):
    """Hinge discriminator loss (Yu et al. 2019, SN-PatchGAN, eq. 2; Lim & Ye 2017):

    ``mean(relu(1 - real)) + mean(relu(1 + fake))``, averaged over every patch score.

    Example:
    >>> real, fake = np.full((2, 4, 4, 1), 2.0), np.full((2, 4, 4, 1), -2.0)
    >>> loss = hinge_discriminator_loss(real, fake)  # 0
    """
    real_logits, fake_logits = as_float32(real_logits), as_float32(fake_logits)
    return ops.mean(ops.relu(1.0 - real_logits)) + ops.mean(ops.relu(1.0 + fake_logits))


def hinge_generator_loss(fake_logits):
    """Hinge generator loss (Yu et al. 2019, eq. 2): ``-mean(fake)``.

    Example:
    >>> loss = hinge_generator_loss(np.full((2, 4, 4, 1), 0.5))  # -0.5
    """
    return -ops.mean(as_float32(fake_logits))


def wasserstein_critic_loss(real_scores, fake_scores):
    """WGAN critic loss (Arjovsky et al. 2017; DeepFill v1's global and local critics):
    ``mean(fake) - mean(real)``. Add `masked_gradient_penalty` for WGAN-GP.

    Example:
    >>> loss = wasserstein_critic_loss(np.ones((4, 1)), np.zeros((4, 1)))  # -1
    """
    return ops.mean(as_float32(fake_scores)) - ops.mean(as_float32(real_scores))


def wasserstein_generator_loss(fake_scores):
    """WGAN generator loss: ``-mean(fake)`` (Arjovsky et al. 2017).

    Example:
    >>> loss = wasserstein_generator_loss(np.ones((4, 1)))  # -1
    """
    return -ops.mean(as_float32(fake_scores))


def masked_gradient_penalty(critic, real, fake, mask=None, alpha=None, seed=None, weight=10.0):
    """WGAN-GP gradient penalty restricted to the hole (Gulrajani et al. 2017, eq. 3, with Yu
    et al. 2018 (DeepFill v1) section 3.1's masking):

    ``x_hat = a * real + (1 - a) * fake`` with one ``a ~ U(0, 1)`` per sample,
    ``g = d sum(critic(x_hat)) / d x_hat``,
    ``penalty = weight * mean_b((||g * mask||_2 - 1)^2)``, the norm over H, W and C of each
    sample; only hole pixels (mask 1) count. With ``mask=None`` it is Gulrajani et al.'s plain
    penalty. ``sqrt(sum g^2 + 1e-12)`` keeps the derivative finite for an empty hole.

    It uses ``tf.GradientTape`` (TensorFlow backend): call it inside the tape that computes the
    critic's gradients, which then differentiates through the penalty. The critic must treat
    samples independently (no batch statistics), as WGAN-GP requires. Computed in float32.

    Args:
        critic: a callable ``[B, H, W, C] -> scores`` (first axis the batch), e.g. a model.
        real: real images ``[B, H, W, C]``.
        fake: generated (composited) images ``[B, H, W, C]``.
        mask: ``[B, H, W, 1]``, 1 = hole, or None for the whole image.
        alpha: interpolation weights, shape ``[B]``, ``[B, 1, 1, 1]`` or a scalar; drawn from
            U(0, 1) with `seed` when None.
        seed: seed for `keras.random.uniform` (an int or a `keras.random.SeedGenerator`;
            inside a compiled train step pass a `SeedGenerator` owned by the model).
        weight: the penalty weight lambda (10 in Gulrajani et al. and DeepFill v1).

    Returns:
        A float32 scalar.

    Example:
    >>> critic = lambda x: ops.sum(x * 2.0, axis=(1, 2, 3))
    >>> real, fake = np.ones((2, 4, 4, 1)), np.zeros((2, 4, 4, 1))
    >>> mask = np.zeros((2, 4, 4, 1)); mask[:, 1, 1] = 1  # gradient 2 on one pixel: (2 - 1)^2
    >>> penalty = masked_gradient_penalty(critic, real, fake, mask, seed=0)  # 10.0
    """
    import tensorflow as tf

    real, fake = check_images(real, fake, names=("real", "fake"))
    batch = ops.shape(real)[0]
    if alpha is None:
        alpha = keras.random.uniform((batch, 1, 1, 1), seed=seed)
    else:
        alpha = ops.reshape(as_float32(alpha), (-1, 1, 1, 1))
    interpolated = alpha * real + (1.0 - alpha) * fake
    with tf.GradientTape() as tape:
        tape.watch(interpolated)
        score_sum = ops.sum(as_float32(critic(interpolated)))
    gradients = as_float32(tape.gradient(score_sum, interpolated))
    if mask is not None:
        gradients = gradients * check_mask(mask, real)
    norms = ops.sqrt(ops.sum(ops.square(gradients), axis=(1, 2, 3)) + _NORM_EPSILON)
    return weight * ops.mean(ops.square(norms - 1.0))
