"""Liu et al. (2018)'s losses for partial-convolution inpainting: per-pixel valid/hole L1,
perceptual and style terms on VGG16 pool1-3, and total variation over the dilated hole.

G. Liu, F. Reda, K. Shih, T.-C. Wang, A. Tao, B. Catanzaro, "Image Inpainting for Irregular
Holes Using Partial Convolutions", ECCV 2018, section 3.4.
"""

import keras
from keras import ops

from keras_inpaint.losses.reconstruction import as_float32, check_images, check_mask

_IMAGENET_BGR_MEAN = (103.939, 116.779, 123.68)
"""Per-channel means (BGR, 0-255 scale) subtracted by the original Caffe VGG16."""

_PIXEL_SCALE = 255.0

_TORCH_RGB_MEAN = (0.485, 0.456, 0.406)
_TORCH_RGB_STD = (0.229, 0.224, 0.225)
"""ImageNet normalisation of torchvision's VGG16, the network Liu et al. tuned their loss
weights (0.05 perceptual, 120 style) on."""

_CAFFE_TO_TORCH_FEATURE_SCALE = 1.0 / (_PIXEL_SCALE * 0.226)
"""Caffe-preprocessed inputs are about 255 x 0.226 = 58 times larger than torchvision's; the
features of Keras' Caffe-converted weights are scaled back by this so that the paper's loss
weights keep their balance (approximate: the biases make VGG only roughly homogeneous)."""


@keras.saving.register_keras_serializable(package="keras_inpaint")
class VGG16FeatureExtractor(keras.layers.Layer):
    """Frozen VGG16 (Simonyan & Zisserman 2015) feature maps of images in [0, 1].

    Builds ``keras.applications.VGG16(include_top=False)`` with input ``[B, H, W, 3]`` of any
    height and width and returns the outputs of `layer_names` (Liu et al. 2018 use pool1,
    pool2 and pool3). Each pool halves H and W, so pool3 needs images of at least 8x8. Never
    trainable.

    Weights: ``"imagenet"`` downloads Keras' ImageNet weights (needs the network); a path
    loads a Keras VGG16 no-top weights file (``.h5`` / ``.weights.h5``); ``None`` keeps
    **fixed random weights**, He-normal kernels seeded by `seed` (so the same seed always gives
    the same network) and zero biases. Nothing can be downloaded on this project's build
    machines, so tests and models trained there use random weights; their Gram statistics
    still describe texture (Ustyuzhaninov et al. 2016), but scores are not comparable with
    ImageNet-VGG perceptual losses. A model trained that way must say so in its model card.

    Input scale: Liu et al. tuned their loss weights on torchvision's VGG16, whose input is
    normalised as ``(x - mean) / std`` with ImageNet's RGB statistics. Random weights get that
    input. Keras' ImageNet weights are converted from Caffe and need Caffe's preprocessing
    (0-255, BGR, minus the channel means), about 58 times larger; their features are divided
    by that factor, so the perceptual and style terms stay on the paper's scale.

    Args:
        weights: None, ``"imagenet"`` or a weights file path.
        layer_names: names of VGG16 layers whose outputs are returned.
        seed: seed of the random weights when ``weights=None``.

    Call arguments:
        images: ``[B, H, W, 3]`` in [0, 1].

    Returns:
        A list of feature maps, one per name, ``[B, H/2^k, W/2^k, C_k]`` for pool k, in the
        compute dtype.

    Example:
    >>> extractor = VGG16FeatureExtractor()
    >>> [f.shape for f in extractor(np.zeros((1, 32, 32, 3), "float32"))]
    [TensorShape([1, 16, 16, 64]), TensorShape([1, 8, 8, 128]), TensorShape([1, 4, 4, 256])]
    """

    def __init__(
        self,
        weights=None,
        layer_names=("block1_pool", "block2_pool", "block3_pool"),
        seed=0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.weights_source = weights
        self.layer_names = tuple(layer_names)
        self.seed = seed
        vgg = keras.applications.VGG16(
            include_top=False, weights=weights, input_shape=(None, None, 3)
        )
        known = [layer.name for layer in vgg.layers]
        unknown = [name for name in self.layer_names if name not in known]
        if unknown or not self.layer_names:
            raise ValueError(
                f"layer_names must be a non-empty list of VGG16 layers, received "
                f"{list(self.layer_names)}; valid names: {', '.join(known[1:])}"
            )
        if weights is None:
            _randomize(vgg, seed)
        outputs = [vgg.get_layer(name).output for name in self.layer_names]
        self.network = keras.Model(vgg.input, outputs, name="vgg16_features")
        self.network.trainable = False
        self.trainable = False

    def call(self, images):
        images = as_float32(images)
        if self.weights_source is None:
            inputs = (images - ops.convert_to_tensor(_TORCH_RGB_MEAN, "float32")) / (
                ops.convert_to_tensor(_TORCH_RGB_STD, "float32")
            )
            scale = 1.0
        else:
            inputs = ops.flip(images * _PIXEL_SCALE, axis=-1) - ops.convert_to_tensor(
                _IMAGENET_BGR_MEAN, "float32"
            )
            scale = _CAFFE_TO_TORCH_FEATURE_SCALE
        features = self.network(ops.cast(inputs, self.compute_dtype))
        features = list(features) if isinstance(features, (list, tuple)) else [features]
        return features if scale == 1.0 else [f * ops.cast(scale, f.dtype) for f in features]

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "weights": self.weights_source,
                "layer_names": list(self.layer_names),
                "seed": self.seed,
            }
        )
        return config


def _randomize(vgg, seed):
    """Seeded He-normal kernels and zero biases for every convolution of `vgg`."""
    convolutions = [layer for layer in vgg.layers if isinstance(layer, keras.layers.Conv2D)]
    for index, layer in enumerate(convolutions):
        initializer = keras.initializers.HeNormal(seed=seed + index)
        layer.kernel.assign(initializer(layer.kernel.shape))
        layer.bias.assign(ops.zeros_like(layer.bias))


def gram_matrix(features):
    """Per-sample Gram matrix with Liu et al.'s normalisation ``K_p = 1 / (C H W)``:

    ``G[b] = F[b]^T F[b] / (C * H * W)`` where ``F[b]`` is sample b's features reshaped to
    ``[H*W, C]`` (Liu et al. 2018, eq. 4-5; Gatys et al. 2016). Computed in float32.

    Args:
        features: ``[B, H, W, C]``.

    Returns:
        float32 ``[B, C, C]``.

    Example:
    >>> gram = gram_matrix(np.ones((2, 4, 4, 3), "float32"))  # every entry 1/3
    """
    shape = tuple(ops.shape(features))
    if len(shape) != 4:
        raise ValueError(f"features must have shape [B, H, W, C], received shape {shape}")
    features = as_float32(features)
    dims = ops.shape(features)
    normaliser = ops.cast(dims[1] * dims[2] * dims[3], "float32")
    return ops.einsum("bhwc,bhwd->bcd", features, features) / normaliser


def total_variation(image, region=None):
    """Liu et al. (2018, eq. 6)'s total variation, normalised by the number of elements:

    ``(sum |I[i, j+1] - I[i, j]| + sum |I[i+1, j] - I[i, j]|) / N(I)`` summed over the pairs
    of neighbours that both lie in `region` (all pixels when None) and over channels, and
    ``N(I) = B * H * W * C``, so the value is the batch average of each image's normalised TV.

    Args:
        image: ``[B, H, W, C]``.
        region: ``[B, H, W, 1]`` of 0/1 or None; Liu et al. use the 1-pixel dilation of the hole.

    Returns:
        A float32 scalar.

    Example:
    >>> tv = total_variation(np.full((1, 8, 8, 3), 0.3, "float32"))  # 0 for a constant image
    """
    image, _ = check_images(image, image, names=("image", "image"))
    if region is None:
        region = ops.ones_like(image[..., :1])
    region = check_mask(region, image, name="region")
    horizontal = ops.abs(image[:, :, 1:] - image[:, :, :-1]) * region[:, :, 1:] * region[:, :, :-1]
    vertical = ops.abs(image[:, 1:] - image[:, :-1]) * region[:, 1:] * region[:, :-1]
    elements = ops.cast(ops.size(image), "float32")
    return (ops.sum(horizontal) + ops.sum(vertical)) / elements


def partial_conv_loss(
    y_true,
    y_pred,
    mask,
    extractor,
    valid_weight=1.0,
    hole_weight=6.0,
    perceptual_weight=0.05,
    style_weight=120.0,
    tv_weight=0.1,
):
    """Liu et al. (2018, eq. 7)'s total loss and its terms.

    The mask is **1 = hole** here, like every public entry point of this package (Liu et al.
    write M with 1 = valid; ``M = 1 - mask``). With ``I_comp = mask * y_pred + (1 - mask) *
    y_true``, ``Psi_p`` the extractor's layers (pool1-3) and ``N(.)`` the element count:

    - valid ``= ||(1 - mask) * (y_pred - y_true)||_1 / N(y_true)`` (eq. 1)
    - hole ``= ||mask * (y_pred - y_true)||_1 / N(y_true)`` (eq. 1)
    - perceptual ``= sum_p ||Psi_p(y_pred) - Psi_p(y_true)||_1 / N(Psi_p(y_true))
      + sum_p ||Psi_p(I_comp) - Psi_p(y_true)||_1 / N(Psi_p(y_true))`` (eq. 3)
    - style ``= sum_p ||G_p(y_pred) - G_p(y_true)||_1 / N(G_p) + sum_p ||G_p(I_comp) -
      G_p(y_true)||_1 / N(G_p)`` with `gram_matrix` ``G_p`` (eq. 4-5)
    - tv ``= total_variation(I_comp, R)``, R the 1-pixel (3x3) dilation of the hole (eq. 6)
    - total ``= valid_weight * valid + hole_weight * hole + perceptual_weight * perceptual +
      style_weight * style + tv_weight * tv`` (eq. 7: 1, 6, 0.05, 120, 0.1).

    Each ``N`` includes the batch, so every term is a batch average. The three images go
    through the extractor as one batch. Computed in float32.

    Args:
        y_true: target images ``[B, H, W, 3]`` in [0, 1] (H, W >= 8 for pool3).
        y_pred: raw network output ``[B, H, W, 3]`` (I_out).
        mask: ``[B, H, W, 1]``, 1 = hole.
        extractor: a callable returning a list of feature maps, e.g. `VGG16FeatureExtractor`;
            None when `perceptual_weight` and `style_weight` are both 0 (those terms are then
            reported as 0 and nothing is extracted).
        valid_weight, hole_weight, perceptual_weight, style_weight, tv_weight: the weights of
            eq. 7.

    Returns:
        ``(total, {"valid", "hole", "perceptual", "style", "tv"})``, float32 scalars.

    Example:
    >>> extractor = VGG16FeatureExtractor()
    >>> images = np.random.rand(2, 32, 32, 3).astype("float32")
    >>> mask = np.zeros((2, 32, 32, 1), "float32"); mask[:, 8:24, 8:24] = 1
    >>> total, terms = partial_conv_loss(images, images * 0.9, mask, extractor)
    """
    y_true, y_pred = check_images(y_true, y_pred)
    mask = check_mask(mask, y_true)
    composited = mask * y_pred + (1.0 - mask) * y_true
    error = ops.abs(y_pred - y_true)
    terms = {"valid": ops.mean((1.0 - mask) * error), "hole": ops.mean(mask * error)}

    if extractor is None and (perceptual_weight or style_weight):
        raise ValueError(
            "partial_conv_loss needs a feature extractor for perceptual_weight="
            f"{perceptual_weight!r} and style_weight={style_weight!r}; extractor=None is only "
            "valid when both are 0"
        )
    batched = [] if extractor is None else extractor(
        ops.concatenate([y_pred, composited, y_true], axis=0)
    )
    perceptual, style = ops.zeros((), "float32"), ops.zeros((), "float32")
    for features in batched:
        output, comp, target = ops.split(as_float32(features), 3, axis=0)
        target_gram = gram_matrix(target)
        for candidate in (output, comp):
            perceptual = perceptual + ops.mean(ops.abs(candidate - target))
            style = style + ops.mean(ops.abs(gram_matrix(candidate) - target_gram))
    terms["perceptual"] = perceptual
    terms["style"] = style

    dilated_hole = ops.max_pool(mask, pool_size=3, strides=1, padding="same")
    terms["tv"] = total_variation(composited, dilated_hole)

    weights = {
        "valid": valid_weight,
        "hole": hole_weight,
        "perceptual": perceptual_weight,
        "style": style_weight,
        "tv": tv_weight,
    }
    total = sum(weights[name] * value for name, value in terms.items())
    return total, terms
