"""Write the contact sheet's four masks: our own irregular masks (Liu et al.'s procedure, as
`keras_inpaint.masks.IrregularMask` draws it), the first of a fixed seed's stream whose hole
ratio falls in each of the bins 10-20, 20-30, 30-40 and 40-50 %.

    python docs/contact_sheet/make_masks.py
"""

from pathlib import Path

import numpy as np
from PIL import Image

from keras_inpaint.masks import IrregularMask, hole_ratio, sample_mask

SIZE = 256
SEED = 2026
BINS = ((0.1, 0.2), (0.2, 0.3), (0.3, 0.4), (0.4, 0.5))


def main(folder=Path(__file__).resolve().parent / "masks"):
    folder.mkdir(exist_ok=True)
    generator = IrregularMask()
    index = 0
    for number, (low, high) in enumerate(BINS):
        while not low <= hole_ratio(mask := sample_mask(generator, SIZE, SIZE, SEED, index)) < high:
            index += 1
        Image.fromarray((np.squeeze(mask) > 0.5).astype(np.uint8) * 255).save(
            folder / f"{number}_holes_{int(low * 100)}-{int(high * 100)}.png")
        index += 1


if __name__ == "__main__":
    main()
