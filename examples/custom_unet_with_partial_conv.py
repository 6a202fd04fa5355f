"""Fit keras_inpaint's PartialConv2D and GatedConv2D into your own Keras model.

    python examples/custom_unet_with_partial_conv.py [--steps 300] [--output-dir DIR] [--fast]

A small U-Net written with plain `keras.layers.Conv2D`, then the same U-Net with its
convolutions swapped:

- `GatedConv2D` (Yu et al. 2019) is a drop-in replacement: tensor in, tensor out;
- `PartialConv2D` (Liu et al. 2018) also takes the validity mask (1 = known pixel, the paper's
  convention: the opposite of keras_inpaint's public "1 = hole") and returns the updated mask,
  which the next layer takes; the decoder upsamples the mask with the features and merges it
  with the skip connection's.

Each network is trained briefly on random free-form holes in crops of the bundled photo (L1
on the composited output, i.e. on the hole), compared on held-out holes, saved as a `.keras`
file, reloaded with `keras_inpaint.zoo.load` (Keras' safe mode) and used with
`keras_inpaint.inpaint`. This U-Net needs sides divisible by 2**depth, so it fills a crop.
The default run takes a few minutes on a CPU; ``--fast`` (or ``KERAS_INPAINT_FAST=1``) trains
tiny networks for a few steps.
"""

import argparse
import os
from pathlib import Path

import keras
import numpy as np
from keras import layers
from PIL import Image

from keras_inpaint import inpaint, zoo
from keras_inpaint.layers import GatedConv2D, PartialConv2D
from keras_inpaint.masks import get_mask_generator, sample_mask

DATA = Path(__file__).resolve().parent / "data"
KINDS = ("conv", "gated", "partial")


def encoder_layer(kind, filters, strides):
    """One convolution of the given kind as ``(features, valid) -> (features, valid)``.

    ``valid`` (1 = known) is only read and updated by partial convolutions; the other kinds
    see the hole through the mask channel of the input and pass ``valid`` through resized.
    """
    if kind == "partial":
        convolution = PartialConv2D(filters, 3, strides=strides)

        def apply(features, valid):
            features, valid = convolution(features, valid)
            return layers.ReLU()(features), valid

        return apply
    if kind == "gated":
        convolution = GatedConv2D(filters, 3, strides=strides)
    else:
        convolution = layers.Conv2D(filters, 3, strides=strides, padding="same",
                                    activation="relu")
    shrink = layers.MaxPooling2D(strides) if strides > 1 else None

    def apply(features, valid):
        return convolution(features), valid if shrink is None else shrink(valid)

    return apply


def build_unet(kind, width=16, depth=3):
    """A U-Net inpainter ``{"image", "mask" (1 = hole)} -> composited image``."""
    image = keras.Input((None, None, 3), name="image")
    mask = keras.Input((None, None, 1), name="mask")
    valid = layers.Rescaling(-1.0, offset=1.0)(mask)  # 1 = known, for PartialConv2D
    features = layers.Concatenate()([layers.Multiply()([image, valid]), mask])
    features, valid = encoder_layer(kind, width, 1)(features, valid)
    skips = []
    for level in range(depth):
        skips.append((features, valid))
        features, valid = encoder_layer(kind, width * 2 ** (level + 1), 2)(features, valid)
    for level in reversed(range(depth)):
        skip_features, skip_valid = skips[level]
        features = layers.Concatenate()([layers.UpSampling2D(2)(features), skip_features])
        valid = layers.Maximum()([layers.UpSampling2D(2)(valid), skip_valid])
        features, valid = encoder_layer(kind, width * 2 ** level, 1)(features, valid)
    generated = layers.Conv2D(3, 1, activation="sigmoid")(features)
    known = layers.Rescaling(-1.0, offset=1.0)(mask)
    composited = layers.Add()([layers.Multiply()([image, known]),
                               layers.Multiply()([generated, mask])])
    return keras.Model({"image": image, "mask": mask}, composited, name=f"{kind}_unet")


def training_pairs(photo, count, size, seed):
    """Random crops of the photo with free-form holes: ``({"image", "mask"}, target)``."""
    rng = np.random.default_rng(seed)
    generator = get_mask_generator("free_form")
    height, width = photo.shape[:2]
    tops = rng.integers(0, height - size + 1, count)
    lefts = rng.integers(0, width - size + 1, count)
    images = np.stack([photo[t : t + size, l : l + size] for t, l in zip(tops, lefts)])
    masks = np.stack([sample_mask(generator, size, size, seed, i) for i in range(count)])
    return {"image": images, "mask": masks}, images


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--output-dir", default=".")
    parser.add_argument("--fast", action="store_true",
                        default=os.environ.get("KERAS_INPAINT_FAST") == "1")
    args = parser.parse_args()
    size, width, batch, steps = (32, 4, 4, 2) if args.fast else (64, 16, 16, args.steps)
    output = Path(args.output_dir)
    output.mkdir(parents=True, exist_ok=True)

    photo = np.asarray(Image.open(DATA / "chelsea.png").convert("RGB"), np.float32) / 255
    train_inputs, train_targets = training_pairs(photo, batch * 4, size, seed=0)
    test_inputs, test_targets = training_pairs(photo, batch, size, seed=1)
    keras.utils.set_random_seed(0)
    for kind in KINDS:
        model = build_unet(kind, width=width)
        # A few fast-mode steps run quicker eagerly than traced into a graph.
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mae", jit_compile=False,
                      run_eagerly=args.fast)
        epochs = max(1, steps // 4)  # 4 batches per epoch
        model.fit(train_inputs, train_targets, batch_size=batch, epochs=epochs, verbose=0)
        hole = test_inputs["mask"] > 0
        prediction = model.predict(test_inputs, verbose=0)
        error = np.abs(prediction - test_targets)[np.broadcast_to(hole, prediction.shape)]
        path = output / f"{kind}_unet.keras"
        model.save(path)
        reloaded = zoo.load(path)  # safe mode: only registered classes, no lambdas
        crop = photo[100 : 100 + 2 * size, 150 : 150 + 2 * size]
        crop_hole = np.zeros(crop.shape[:2], bool)
        crop_hole[size // 2 : size, size // 2 : size + size // 2] = True
        filled = inpaint(crop, crop_hole, model=reloaded)
        Image.fromarray(np.rint(filled * 255).astype(np.uint8)).save(output / f"{kind}_crop.png")
        print(f"{kind:8s} {model.count_params():8d} parameters, hole L1 {error.mean():.4f} "
              f"after {epochs * 4} steps, saved {path.name}")


if __name__ == "__main__":
    main()
