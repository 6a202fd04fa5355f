"""The shape of holes: how a mask source spreads over the hole-ratio bins and how thin its holes are.

For each source, masks drawn from a generator spec (`keras_inpaint.masks.get_mask_generator`,
e.g. ``irregular`` or ``irregular:max_shapes=24,min_width=2,max_width=26``; ``sample_mask`` with
seed 0 and indices 0..count-1) or every mask file of a folder, listed, read and resized as
`keras-inpaint evaluate` does (`list_image_files`, `keras_inpaint.masks.load_mask`), at
``size x size``, and per hole-ratio bin
(`keras_inpaint.metrics.HOLE_RATIO_BINS`, ``0-1%`` and ``60-100%`` outside them):

- the number of masks,
- ``border``: the mean share of a mask's hole pixels within 2 pixels of the nearest known pixel
  (Euclidean distance ``d <= 2``; thin strokes give 1),
- ``deep``: the mean share beyond 8 pixels (``d > 8``; large regions).

Used to choose the zoo's later training masks to look more like the NVIDIA test masks at 128:

    python docs/diagnostics/mask_statistics.py irregular \
        irregular:max_shapes=24,min_width=2,max_width=26 DATA/masks/nvidia-irregular \
        --size 128 --count 1200
"""

import argparse
import os

import numpy as np
from border_distance import border_distance

from keras_inpaint import masks as masks_lib
from keras_inpaint.data import list_image_files
from keras_inpaint.metrics import hole_ratio_bin

THIN, DEEP = 2.0, 8.0
"""Distances (pixels) bounding the ``border`` and ``deep`` shares."""


def source_masks(source, size, count):
    """The masks of `source` (a folder or a generator spec) as float32 ``[size, size, 1]``."""
    if os.path.isdir(source):
        return [masks_lib.load_mask(path, size=(size, size)) for path in list_image_files(source)]
    generator = masks_lib.get_mask_generator(source)
    return [masks_lib.sample_mask(generator, size, size, 0, index) for index in range(count)]


def hole_statistics(masks):
    """``{bin label: (masks, mean border share, mean deep share)}`` in bin order, then
    ``"all"``; masks with no hole are left out."""
    shares = {}
    for mask in masks:
        hole = np.asarray(mask)[..., 0] > 0.5
        if not hole.any():
            continue
        distance = border_distance(hole)[hole]
        shares.setdefault(hole_ratio_bin(mask), []).append(
            (np.mean(distance <= THIN), np.mean(distance > DEEP)))
    order = sorted(shares, key=lambda label: float(label.split("-")[0]))
    shares["all"] = [pair for label in order for pair in shares[label]]
    return {label: (len(shares[label]), *np.mean(shares[label], axis=0))
            for label in [*order, "all"]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("sources", nargs="+", help="mask generator specs or mask folders")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--count", type=int, default=1000, help="masks drawn per generator")
    args = parser.parse_args()
    for source in args.sources:
        print(f"\n{source} at {args.size}x{args.size}: bin | masks | border | deep")
        for label, (count, border, deep) in hole_statistics(
                source_masks(source, args.size, args.count)).items():
            print(f"  {label} | {count} | {border:.3f} | {deep:.3f}")


if __name__ == "__main__":
    main()
