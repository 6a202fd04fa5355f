"""Inpainting layers for Keras 3: one class per module.

- `PartialConv2D`: partial convolution with mask update (Liu et al. 2018); mask 1 = valid.
- `GatedConv2D`: gated convolution (Yu et al. 2019, DeepFill v2).
- `ContextualAttention`: contextual attention (Yu et al. 2018, DeepFill v1); mask 1 = hole.
- `ChannelwiseDense`: channel-wise fully connected layer (Pathak et al. 2016).
"""

from keras_inpaint.layers.channelwise_dense import ChannelwiseDense
from keras_inpaint.layers.contextual_attention import ContextualAttention
from keras_inpaint.layers.gated_conv2d import GatedConv2D
from keras_inpaint.layers.partial_conv2d import PartialConv2D

__all__ = ["ChannelwiseDense", "ContextualAttention", "GatedConv2D", "PartialConv2D"]
