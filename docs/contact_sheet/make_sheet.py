"""Draw the README's contact sheet: the four photos of `photos/` with the masks of `masks/`,
filled by every zoo network and the two classical fills, at 128x128 (the zoo's training size).

    python docs/contact_sheet/make_sheet.py [--search-steps 200]

Columns: input (hole in grey), mask, then gated_conv, partial_conv, contextual_attention,
global_local, context_encoder, latent_search, telea, navier_stokes. The latent search runs
`--search-steps` Adam steps with one candidate (the paper: 1500 steps; that takes minutes per
image on a CPU); the sheet's caption in the README says so. Prints the scores on these four
pairs too (four pairs are a picture, not an evaluation).
"""

import argparse
from pathlib import Path

from keras_inpaint import evaluation, zoo

HERE = Path(__file__).resolve().parent
NETWORKS = ("gated_conv", "partial_conv", "contextual_attention", "global_local",
            "context_encoder", "latent_search")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--search-steps", type=int, default=200)
    parser.add_argument("--out", default=str(HERE.parent / "contact_sheet.png"))
    args = parser.parse_args()
    methods = {name: zoo.load(name) for name in NETWORKS if name != "latent_search"}
    methods["latent_search"] = zoo.load("latent_search", search_steps=args.search_steps,
                                        candidates=1)
    methods.update(telea=zoo.load("telea"), navier_stokes=zoo.load("navier_stokes"))
    scores = evaluation.evaluate(methods, HERE / "photos", HERE / "masks", size=128,
                                 batch_size=4, contact_sheet=args.out, contact_rows=4)
    print(evaluation.comparison_markdown(scores))


if __name__ == "__main__":
    main()
