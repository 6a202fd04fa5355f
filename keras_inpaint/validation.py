"""Validation during training: the model's scores on fixed held-out (photo, mask) pairs.

`keras-inpaint train ... --validation-images DIR --validation-masks DIR` scores the model
every ``--validate-every`` steps (default: at each checkpoint), at the run's start and at its
last step, on the pairs `keras_inpaint.evaluation.evaluation_pairs` makes of the two folders at
the training resolution (every ``--validation-stride``-th mask). The scores are those of
`keras-inpaint evaluate` (`keras_inpaint.metrics.BinnedScores`: masked L1 and L2 in %, PSNR
and SSIM of the composited output, per hole-ratio bin), so a curve point and an evaluation of
the same weights agree. They go to

- ``validation.json`` in the run directory: the protocol (folders, size, stride, number of
  pairs) and one entry per validated step with the full per-bin table, rewritten atomically;
- TensorBoard, as ``validation/<score>`` scalars of the ``all`` row, beside the loss terms.

Photos and masks should be held out from the training folder: the curve is then the
"validation curve" by which to stop a run or pick its step, and the test set (e.g. Kodak24)
stays untouched until the final evaluation.

On ``--resume``, entries after the restored checkpoint's step are dropped (the steps that made
them were lost with the kill and are trained again), and a different protocol is refused
rather than mixed into one curve.
"""

import json
import os
from pathlib import Path

import numpy as np

from keras_inpaint.evaluation import batches, evaluation_pairs
from keras_inpaint.files import VALIDATION_FILE, atomic_write_text
from keras_inpaint.metrics import BinnedScores
from keras_inpaint.scores import TABLE_SCORES, score_text


class Validation:
    """Held-out pairs loaded once, scored on demand, with the run's validation log.

    The pairs are decoded once and kept in memory (``16 * size**2`` bytes each: 1 MiB at 256).

    Args:
        images, masks: folders of held-out photos and of masks (`evaluation_pairs`).
        size: side of the square the pairs are resized to (the training resolution).
        stride: use every `stride`-th mask.
        batch_size: images per model call.

    Raises:
        ValueError: `size` is not one int (a non-square training size), a folder holds no
            image, or `stride` is not a positive int.
        FileNotFoundError: a folder does not exist.
    """

    def __init__(self, images, masks, size, stride=1, batch_size=8):
        if isinstance(size, (tuple, list)):
            if len(size) != 2 or size[0] != size[1]:
                raise ValueError(f"validation needs a square training size, received {tuple(size)}")
            size = size[0]
        self.pairs = list(evaluation_pairs(images, masks, size=size, stride=stride))
        self.batch_size = batch_size
        self.protocol = {"images": os.path.abspath(images), "masks": os.path.abspath(masks),
                         "size": int(size), "stride": stride, "pairs": len(self.pairs)}

    def scores(self, model):
        """`BinnedScores` of ``model(batch, training=False)`` on every pair."""
        scores = BinnedScores()
        for _, batch in batches(self.pairs, self.batch_size):
            output = np.asarray(model(batch, training=False), np.float32)
            scores.update(batch["image"], output, batch["mask"])
        return scores

    def open_log(self, run_directory, start_step, resume):
        """The run's `ValidationLog` of these pairs: a new one, or (on `resume`) the existing
        entries up to `start_step`, after checking they were measured the same way."""
        return ValidationLog(self, Path(run_directory) / VALIDATION_FILE, start_step, resume)


class ValidationLog:
    """``validation.json``: ``{"protocol": {...}, "steps": [{"step", "scores": rows}, ...]}``,
    the curve of one `Validation`'s pairs."""

    def __init__(self, held_out, path, start_step, resume):
        self.held_out = held_out
        self.path = Path(path)
        protocol = held_out.protocol
        self.entries = []
        if resume and self.path.is_file():
            previous = json.loads(self.path.read_text(encoding="utf-8"))
            if previous["protocol"] != protocol:
                raise ValueError(
                    f"{self.path} was measured with {previous['protocol']}, this session "
                    f"would measure {protocol}; resume with the same validation settings, or "
                    "move the file away to start a new curve"
                )
            self.entries = [e for e in previous["steps"] if e["step"] <= start_step]

    def has(self, step):
        return any(entry["step"] == step for entry in self.entries)

    def record(self, step, model):
        """Score `model` on the pairs and record the table at `step`; returns its ``all`` row."""
        rows = self.held_out.scores(model).table()
        self.entries.append({"step": step, "scores": rows})
        atomic_write_text(self.path, json.dumps(
            {"protocol": self.held_out.protocol, "steps": self.entries}, indent=1))
        return rows[-1]


def summary_line(step, row):
    """``validation at step 500: L1 (%) 2.104, L2 (%) 0.402, PSNR (dB) 27.31, SSIM 0.8401``."""
    parts = [f"{label} {score_text(key, row[key])}" for key, label, _ in TABLE_SCORES]
    return f"validation at step {step}: " + ", ".join(parts)
