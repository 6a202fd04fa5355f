"""Losses of the classic inpainting papers, written with `keras.ops` (NHWC, masks 1 = hole).

- `reconstruction`: masked L1/L2 (Pathak et al. 2016, Iizuka et al. 2017) and DeepFill v1's
  spatially discounted L1 (Yu et al. 2018).
- `adversarial`: non-saturating, hinge (SN-PatchGAN, Yu et al. 2019) and Wasserstein losses
  with the hole-masked gradient penalty (DeepFill v1).
- `perceptual`: Liu et al. (2018)'s valid/hole/perceptual/style/TV loss on VGG16 features.
- `context`: Yeh et al. (2017)'s weighted context loss and prior loss.

Scalar losses are float32 means; losses made of several terms return ``(total, terms)``;
Yeh et al.'s losses return one value per sample.
"""

from keras_inpaint.losses.adversarial import (
    hinge_discriminator_loss,
    hinge_generator_loss,
    masked_gradient_penalty,
    nonsaturating_discriminator_loss,
    nonsaturating_generator_loss,
    wasserstein_critic_loss,
    wasserstein_generator_loss,
)
from keras_inpaint.losses.context import context_loss, context_weights, prior_loss
from keras_inpaint.losses.perceptual import (
    VGG16FeatureExtractor,
    gram_matrix,
    partial_conv_loss,
    total_variation,
)
from keras_inpaint.losses.reconstruction import (
    discounted_l1,
    masked_l1,
    masked_l2,
    spatial_discount_weights,
)

__all__ = [
    "VGG16FeatureExtractor",
    "context_loss",
    "context_weights",
    "discounted_l1",
    "gram_matrix",
    "hinge_discriminator_loss",
    "hinge_generator_loss",
    "masked_gradient_penalty",
    "masked_l1",
    "masked_l2",
    "nonsaturating_discriminator_loss",
    "nonsaturating_generator_loss",
    "partial_conv_loss",
    "prior_loss",
    "spatial_discount_weights",
    "total_variation",
    "wasserstein_critic_loss",
    "wasserstein_generator_loss",
]
