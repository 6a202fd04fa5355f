"""DeepFill v1 (Yu et al., CVPR 2018): the authors' release v1.0.0 ->
`ContextualAttentionInpainter`.

Variable mapping (checkpoint name -> our model):

- ``inpaint_net/<layer>/{kernel,bias}`` -> generator layer ``<layer>`` (plain `Conv2D`s);
- ``inpaint_net/<s>NN_upsample/<s>NN_upsample_conv/*`` -> layer ``<s>NN_upsample_conv``;
- ``discriminator/discriminator_{local,global}/convK/*`` -> the local / global critic's
  ``convK``; ``discriminator/dout_{local,global}_fc/*`` -> the critic's dense head (with its
  bias, which our critics only have with ``reference_compatibility=True``).

The model is ``ContextualAttentionInpainter(image_size=256, width=32, padding="same",
reference_compatibility=True)``: the released models (Places2, CelebA, CelebA-HQ, ImageNet)
were trained on 256x256 images with ``cnum`` 32, a 128x128 local critic and zero "SAME"
padding (the default of the authors' ``build_inpaint_net``, which their test graph uses), and
their graph resizes with TF1's ``align_corners=True`` nearest neighbour.
"""

from keras_inpaint.convert.common import generator_variables, layer_variables

MODEL_NAME = "contextual_attention"
TITLE = "DeepFill v1 (ContextualAttentionInpainter, width 32, local and global critics)"

IMAGE_SIZE = 256
WIDTH = 32
PADDING = "same"
CRITIC_SCOPE = "discriminator"


def build_model():
    """``ContextualAttentionInpainter`` configured like the authors' release."""
    from keras_inpaint.models.contextual_attention import ContextualAttentionInpainter

    return ContextualAttentionInpainter(
        image_size=IMAGE_SIZE, width=WIDTH, padding=PADDING, reference_compatibility=True
    )


def checkpoint_variables(model):
    """{checkpoint name: variable} of the generator and of the two critics."""
    critics = {}
    for kind, critic in (("local", model.local_critic), ("global", model.global_critic)):
        head = f"dout_{kind}_fc"
        critics.update(
            layer_variables(
                critic,
                lambda layer_name, kind=kind, head=head: (
                    f"{CRITIC_SCOPE}/{layer_name}"
                    if layer_name == head
                    else f"{CRITIC_SCOPE}/discriminator_{kind}/{layer_name}"
                ),
            )
        )
    return generator_variables(model.generator), critics


def prepare_values(values):
    """The checkpoint's arrays are used as they are."""
    return values
