"""Inpaint a photo with a zoo model, from Python.

    python examples/inpaint_photo.py [--model NAME] [--output-dir DIR]

Loads the model once with `keras_inpaint.zoo.load` and fills the bundled photo's holes (white
in the mask) from file paths, from NumPy arrays (uint8 and float) and from an RGBA cut-out
whose transparent pixels are the hole, then with Poisson blending, and writes the results and
an input | mask | result comparison. The default model is the best zoo model with trained
weights that beats the classical fills (`zoo.default_model()`, else OpenCV's Navier-Stokes). The
script is fast as it is: it has no separate fast mode.
"""

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from keras_inpaint import inpaint, zoo
from keras_inpaint.inference import side_by_side

DATA = Path(__file__).resolve().parent / "data"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="zoo name (default: zoo.default_model())")
    parser.add_argument("--output-dir", default=".", help="where to write the pictures")
    args = parser.parse_args()

    name = args.model or zoo.default_model()
    model = zoo.load(name)  # loaded once, reused for every call below
    image_path, mask_path = DATA / "chelsea.png", DATA / "chelsea_mask.png"

    # 1. Paths in, uint8 array out (same size as the photo, known pixels untouched).
    result = inpaint(image_path, mask_path, model=model)

    # 2. Arrays: uint8 or float in [0, 1]; the mask is any array whose nonzero pixels are holes.
    photo = np.asarray(Image.open(image_path).convert("RGB"))
    hole = np.asarray(Image.open(mask_path)) > 0
    pixels = photo.astype(np.float32) / 255
    as_float = inpaint(pixels, hole, model=model)
    assert as_float.dtype == np.float32 and np.array_equal(as_float[~hole], pixels[~hole])

    # 3. An RGBA cut-out and no mask: the transparent pixels are the hole.
    cutout = np.dstack([photo, np.where(hole, 0, 255).astype(np.uint8)])
    assert np.array_equal(inpaint(cutout, model=model), result)

    # 4. Poisson blending of the fill into its surroundings (Iizuka et al. 2017).
    blended = inpaint(image_path, mask_path, model=model, postprocess="poisson")

    output = Path(args.output_dir)
    output.mkdir(parents=True, exist_ok=True)
    Image.fromarray(result).save(output / "chelsea_inpainted.png")
    Image.fromarray(blended).save(output / "chelsea_inpainted_poisson.png")
    Image.fromarray(side_by_side(image_path, mask_path, result)).save(
        output / "chelsea_side_by_side.png"
    )
    changed = (result != photo).any(axis=-1)
    print(f"model {name}: filled {int(hole.sum())} hole pixels ({changed.sum()} changed), "
          f"wrote {output / 'chelsea_inpainted.png'} and two more pictures")


if __name__ == "__main__":
    main()
