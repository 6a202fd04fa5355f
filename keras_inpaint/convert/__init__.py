"""Load the authors' released DeepFill v1 and v2 checkpoints into keras_inpaint models.

    keras-inpaint convert deepfill_v1|deepfill_v2 CHECKPOINT OUT_DIR [--name NAME]

`convert_deepfill` reads a TF1 checkpoint of Yu et al.'s generative_inpainting (tags v1.0.0
and v2.0.0) with `tf.train.load_checkpoint`, maps every generator and discriminator variable
onto `ContextualAttentionInpainter` / `GatedConvInpainter` built with
``reference_compatibility=True`` and writes a preset folder for `keras_inpaint.zoo.load`.
The per-release mappings are in `deepfill_v1` and `deepfill_v2`, the shared reading,
checking and writing in `common`.
"""

from keras_inpaint.convert.common import VERSIONS, convert_deepfill

__all__ = ["VERSIONS", "convert_deepfill"]
