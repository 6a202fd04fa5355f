"""Latency of Yeh et al.'s latent search (`LatentSearchInpainter`) for one image on this machine.

Measures the serving computation: one `tf.function` (not XLA-compiled, as exported for TF
Serving) that runs the whole search (`--steps` Adam iterations on `--candidates` codes) and
the Poisson blend, on one 64x64 image with a centred square hole, at the paper's network size
(DCGAN width 64, z of 100). The weights are untrained: the cost does not depend on them. The
first call (tracing) is reported separately; the others are timed and their median printed.

    python benchmarks/latent_search_latency.py [--steps 1500] [--candidates 4] [--repeats 3]
"""

import argparse
import os
import statistics
import time

import numpy as np
import tensorflow as tf

from keras_inpaint.models.latent_search import LatentSearchInpainter


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--candidates", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    size = args.image_size
    model = LatentSearchInpainter(
        image_size=size, search_steps=args.steps, candidates=args.candidates, seed=0
    )
    rng = np.random.default_rng(0)
    image = tf.constant(rng.random((1, size, size, 3), dtype=np.float32))
    mask = np.zeros((1, size, size, 1), np.float32)
    mask[:, size // 4 : 3 * size // 4, size // 4 : 3 * size // 4] = 1.0
    mask = tf.constant(mask)

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, None, None, 3], tf.float32),
            tf.TensorSpec([None, None, None, 1], tf.float32),
        ]
    )
    def inpaint(image, mask):
        return model({"image": image, "mask": mask})

    start = time.perf_counter()
    inpaint(image, mask).numpy()
    first = time.perf_counter() - start
    timings = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        inpaint(image, mask).numpy()
        timings.append(time.perf_counter() - start)
    print(
        f"LatentSearchInpainter {size}x{size}, {args.steps} steps, {args.candidates} candidates, "
        f"blend={model.blend}; TensorFlow {tf.__version__}, {os.cpu_count()} CPUs"
    )
    print(f"first call (incl. tracing): {first:.2f} s")
    print(
        f"timed calls: {', '.join(f'{t:.2f}' for t in timings)} s; "
        f"median {statistics.median(timings):.2f} s, "
        f"{1000 * statistics.median(timings) / args.steps:.1f} ms per step"
    )


if __name__ == "__main__":
    main()
