"""Where a fill's error lies: hole error by distance to the nearest known pixel.

For each method and each evaluation pair (`keras_inpaint.evaluation.evaluation_pairs`), the
hole pixels are grouped by their Euclidean distance ``d`` to the nearest known pixel (OpenCV's
exact distance transform), and each group reports, in % of the [0, 1] range,

    mean |fill - truth|   and   mean (fill - truth) per channel (R, G, B),

over the pixels and channels of the group, pooled over all pairs. It also fills flat grey
images (values 0.2, 0.5, 0.8, 0.95) with a 50x70 hole and prints the mean fill: a fill that
follows its border returns the grey. Used for the `gated_conv` model card's notes:

    python docs/diagnostics/border_distance.py gated_conv navier_stokes \
        --images DATA/photos/kodak24 --masks DATA/masks/nvidia-irregular --size 128 --stride 20
"""

import argparse

import cv2
import numpy as np

from keras_inpaint import evaluation, zoo

DISTANCE_BANDS = ((0, 2), (2, 4), (4, 8), (8, 16), (16, np.inf))
FLAT_GREYS = (0.2, 0.5, 0.8, 0.95)


def border_distance(hole):
    """Distance of each pixel of `hole` (bool [H, W]) to the nearest non-hole pixel."""
    return cv2.distanceTransform(hole.astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)


def fill_all(method, pairs, batch_size=8):
    """`method`'s composited outputs for all `pairs`, `batch_size` pairs per call."""
    return np.concatenate([np.asarray(method(batch), np.float32)
                           for _, batch in evaluation.batches(pairs, batch_size)])


def error_by_distance(images, masks, filled):
    """``[(band, pixels, mean abs error %, mean signed error % per channel)]``; a band with no
    hole pixel reports NaN errors."""
    hole = masks[..., 0] > 0.5
    distance = np.stack([border_distance(h) for h in hole])
    error = (filled - images) * 100.0
    rows = []
    for low, high in DISTANCE_BANDS:
        values = error[hole & (distance > low) & (distance <= high)]  # [pixels, 3]
        if not len(values):
            rows.append(((low, high), 0, float("nan"), np.full(3, np.nan)))
            continue
        rows.append(((low, high), len(values), float(np.abs(values).mean()), values.mean(axis=0)))
    return rows


def flat_fills(method, size):
    """``[(grey, mean fill per channel)]`` for flat grey images with a centred 50x70 hole."""
    mask = np.zeros((1, size, size, 1), np.float32)
    top, left = (size - 50) // 2, (size - 70) // 2
    mask[:, top:top + 50, left:left + 70] = 1
    hole = mask[0, ..., 0] > 0
    return [(grey, np.asarray(method({"image": np.full((1, size, size, 3), grey, np.float32),
                                      "mask": mask}))[0][hole].mean(axis=0))
            for grey in FLAT_GREYS]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("methods", nargs="+", help="zoo names, preset folders or .keras files")
    parser.add_argument("--images", required=True)
    parser.add_argument("--masks", required=True)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--stride", type=int, default=1)
    args = parser.parse_args()
    pairs = list(evaluation.evaluation_pairs(args.images, args.masks, size=args.size,
                                             stride=args.stride))
    images = np.stack([pair[0] for pair in pairs])
    masks = np.stack([pair[1] for pair in pairs])
    print(f"{len(pairs)} pairs at {args.size}x{args.size}")
    for name in args.methods:
        method = zoo.load(name)
        print(f"\n{name}: distance band (pixels) | hole pixels | mean |error| % | "
              "mean error % (R, G, B)")
        for (low, high), count, absolute, signed in error_by_distance(
                images, masks, fill_all(method, pairs)):
            print(f"  ({low:g}, {high:g}] | {count} | {absolute:.2f} | "
                  + ", ".join(f"{value:+.2f}" for value in signed))
        for grey, fill in flat_fills(method, args.size):
            print(f"  flat {grey:g} -> " + ", ".join(f"{value:.3f}" for value in fill))


if __name__ == "__main__":
    main()
