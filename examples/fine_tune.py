"""Fine-tune a zoo model on a folder of your own photos.

    python examples/fine_tune.py --data PHOTOS_DIR [--model gated_conv] [--weights zoo|none]
                                 [--steps 2000] [--batch-size 8] [--learning-rate 2e-5]
                                 [--output-dir DIR] [--fast]

1. `zoo.load(name)` gives the published model, weights included (``--weights none`` starts
   from random weights, e.g. while an entry has no trained weights yet).
2. `keras_inpaint.data.make_dataset` streams random crops of the photos at the model's
   training resolution with random holes of the model's own kind (``model.default_masks``).
3. The model's own `train_step` (its paper's losses, generator and discriminator updates)
   runs under `fit`, with a smaller learning rate for the generator than the paper's.
4. The result is saved as a `.keras` file, reloaded with `zoo.load` and used on the bundled
   photo. From the command line, with checkpoints and resuming, the same is
   ``keras-inpaint train gated_conv --init-from gated_conv --data PHOTOS_DIR --output RUN
   --image-size 128`` (the preset's architecture arguments, such as its width, come with it).

``--fast`` (or ``KERAS_INPAINT_FAST=1``): a small context encoder with random weights, one
step on the bundled photo.
"""

import argparse
import os
import shutil
import tempfile
from pathlib import Path

import keras
from PIL import Image

from keras_inpaint import inpaint, zoo
from keras_inpaint.data import make_dataset

DATA = Path(__file__).resolve().parent / "data"
FAST_MODEL = ("context_encoder", {"image_size": 32, "width": 8})
"""Fast mode: a context encoder small enough to train a step in seconds."""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="folder of photos (searched recursively)")
    parser.add_argument("--model", default="gated_conv", help="zoo name, preset or .keras")
    parser.add_argument("--weights", choices=("zoo", "none"), default="zoo")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--learning-rate", type=float, default=2e-5)
    parser.add_argument("--output-dir", default=".")
    parser.add_argument("--fast", action="store_true",
                        default=os.environ.get("KERAS_INPAINT_FAST") == "1")
    args = parser.parse_args()
    output = Path(args.output_dir)
    output.mkdir(parents=True, exist_ok=True)

    with tempfile.TemporaryDirectory() as scratch:
        if args.fast:
            name, overrides = FAST_MODEL
            model = zoo.load(name, weights=None, **overrides)
            data, steps, batch_size = scratch, 1, 2
            shutil.copy(DATA / "chelsea.png", scratch)  # a photo folder of one photo
        elif args.data is None:
            parser.error("--data is required (or --fast)")
        else:
            try:
                model = zoo.load(args.model, weights=None if args.weights == "none" else "zoo")
            except ValueError as error:  # e.g. no trained weights yet: --weights none
                parser.error(str(error))
            data, steps, batch_size = args.data, args.steps, args.batch_size

        dataset = make_dataset(data, image_size=model.image_size, batch_size=batch_size,
                               masks=model.default_masks, seed=0)
        model.compile(generator_optimizer=keras.optimizers.Adam(args.learning_rate))
        # make_dataset shuffles the photos itself (seeded, resumable)
        history = model.fit(dataset, steps_per_epoch=steps, epochs=1, shuffle=False, verbose=2)
        del dataset  # let the input pipeline finish before the interpreter exits
    path = output / "fine_tuned.keras"
    model.save(path)

    fine_tuned = zoo.load(path)
    result = inpaint(DATA / "chelsea.png", DATA / "chelsea_mask.png", model=fine_tuned)
    Image.fromarray(result).save(output / "chelsea_fine_tuned.png")
    losses = ", ".join(f"{key} {values[-1]:.4f}" for key, values in history.history.items())
    print(f"fine-tuned {type(model).__name__} for {steps} step(s) ({losses}); saved {path}")


if __name__ == "__main__":
    main()
