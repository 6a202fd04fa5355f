"""Side-by-side evaluation of inpainting methods on a photo folder and a mask folder.

Protocol (Liu et al. 2018's, on our data): every mask file is used once, paired with the
photos in turn (mask ``j`` with photo ``j mod n_photos``, both lists sorted by name). A photo
is centre-cropped to a square and resized to ``size`` (bilinear, antialiased); a mask is
resized with nearest neighbour and thresholded (see `keras_inpaint.masks.load_mask`). Each
method sees the same pairs; scores are computed on the composited output
(`keras_inpaint.metrics.BinnedScores`) and reported per hole-ratio bin of the resized mask.

    keras-inpaint evaluate gated_conv telea navier_stokes --images kodak24/ --masks masks/ \
        --size 256 --out report.md --json report.json --contact-sheet sheet.png

A method can also be scored after a post-processor (`postprocessed`), e.g. Iizuka et al.'s
Poisson blending beside the raw output, as two columns:

    keras-inpaint evaluate gated_conv gc_poisson=gated_conv navier_stokes \
        --postprocess gc_poisson=poisson --images kodak24/ --masks masks/

The JSON report (`report_json`) is what `keras_inpaint.zoo.publish` reads to put a model's
scores, and the classical fills' scores on the same pairs, into its model card.
"""

import os
import warnings

import numpy as np
from PIL import Image

from keras_inpaint.data import list_image_files, load_image
from keras_inpaint.masks import load_mask
from keras_inpaint.metrics import BinnedScores
from keras_inpaint.postprocess import get_postprocessor
from keras_inpaint.scores import TABLE_SCORES, score_text


def centre_square(image, size):
    """Centre-crop `image` (float [H,W,3]) to a square and resize it to ``size x size``."""
    height, width = image.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    square = Image.fromarray(np.round(image[top : top + side, left : left + side] * 255)
                             .astype(np.uint8))
    resized = square.resize((size, size), Image.Resampling.BILINEAR, reducing_gap=None)
    return np.asarray(resized, np.float32) / 255.0


def evaluation_pairs(images_dir, masks_dir, size=256, limit=None, stride=1):
    """Yield ``(image [size,size,3], mask [size,size,1], image_name)`` per mask file.

    `limit` keeps the first masks (sorted by name), `stride` every `stride`-th of those (a
    subset spread over all the bins when masks are named by bin); the photo of mask ``j`` is
    still photo ``j mod n_photos`` of the full list, so a subset scores the same pairs as the
    full evaluation does. A mask without a hole at `size` has nothing to score: it is skipped,
    and the skipped files are named in one warning at the end (an error if no mask has a hole).
    """
    if isinstance(stride, bool) or not isinstance(stride, int) or stride < 1:
        raise ValueError(f"stride must be a positive int, received {stride!r}")
    images = list_image_files(images_dir)
    masks = list_image_files(masks_dir)
    if limit is not None:
        masks = masks[:limit]
    without_hole = []
    for index, mask_path in list(enumerate(masks))[::stride]:
        mask = load_mask(mask_path, size=(size, size))
        if not mask.any():
            without_hole.append(os.path.basename(mask_path))
            continue
        image_path = images[index % len(images)]
        yield centre_square(load_image(image_path), size), mask, image_path
    if without_hole:
        listed = ", ".join(without_hole[:5]) + (", ..." if len(without_hole) > 5 else "")
        if len(without_hole) == len(masks[::stride]):
            raise ValueError(f"no mask in {os.fspath(masks_dir)!r} has a hole at {size}x{size}")
        warnings.warn(f"skipped {len(without_hole)} mask(s) without a hole at {size}x{size}: "
                      f"{listed}", stacklevel=2)


def batches(pairs, batch_size):
    """Yield ``(start, {"image": [B,size,size,3], "mask": [B,size,size,1]})`` for consecutive
    groups of at most `batch_size` `evaluation_pairs` items, ``start`` the first one's index."""
    for start in range(0, len(pairs), batch_size):
        chunk = pairs[start : start + batch_size]
        yield start, {"image": np.stack([p[0] for p in chunk]),
                      "mask": np.stack([p[1] for p in chunk])}


def postprocessed(method, name):
    """`method` followed by the post-processor called `name` (`get_postprocessor`).

    The result maps a batch to ``postprocess(image, mask, method(batch))``. The post-processors
    read only the known pixels of ``image`` (an evaluation passes the ground truth, holes
    included), so the hole's true content cannot leak into the score.

    Example:
    >>> import numpy as np
    >>> grey = lambda batch: np.where(batch["mask"] > 0, 0.5, batch["image"])
    >>> batch = {"image": np.full((1, 16, 16, 3), 0.8, np.float32),
    ...          "mask": np.zeros((1, 16, 16, 1), np.float32)}
    >>> batch["mask"][:, 4:12, 4:12] = 1
    >>> blended = postprocessed(grey, "poisson")(batch)  # the flat fill takes the border's colour
    >>> bool(np.abs(blended - 0.8).max() < 0.01)
    True
    """
    postprocess = get_postprocessor(name)

    def run(batch):
        return postprocess(batch["image"], batch["mask"], np.asarray(method(batch), np.float32))

    return run


def evaluate(methods, images_dir, masks_dir, size=256, limit=None, batch_size=8,
             contact_sheet=None, contact_rows=4, stride=1):
    """Score each method; returns ``{method name: BinnedScores}``.

    Args:
        methods: ``{name: callable}`` where the callable maps ``{"image": [B,H,W,3] float32 in
            [0,1], "mask": [B,H,W,1] 1 = hole}`` to the composited ``[B,H,W,3]`` output (a zoo
            model or `keras_inpaint.postprocess.ClassicalInpainter`).
        images_dir, masks_dir: folders of photos and of masks.
        size: evaluation resolution.
        limit: use only the first `limit` masks (sorted by name).
        stride: use every `stride`-th mask (after `limit`; see `evaluation_pairs`).
        batch_size: images per call.
        contact_sheet: a PNG path for a picture of `contact_rows` pairs spread evenly over
            the mask list (so over the hole-ratio bins when masks are named by bin): input with
            the hole greyed, mask, then each method's output.
        contact_rows: rows of the contact sheet.
    """
    if not methods:
        raise ValueError("evaluate needs at least one method")
    scores = {name: BinnedScores() for name in methods}
    sheet_rows = []
    pairs = list(evaluation_pairs(images_dir, masks_dir, size=size, limit=limit, stride=stride))
    sheet_pairs = set(np.linspace(0, len(pairs) - 1, min(contact_rows, len(pairs)))
                      .round().astype(int).tolist())
    for start, batch in batches(pairs, batch_size):
        outputs = {}
        for name, method in methods.items():
            outputs[name] = np.asarray(method(batch), np.float32)
            scores[name].update(batch["image"], outputs[name], batch["mask"])
        for row in range(len(batch["image"])):
            if start + row in sheet_pairs:
                sheet_rows.append(_sheet_row(batch, outputs, row))
    if contact_sheet is not None:
        Image.fromarray(np.concatenate(sheet_rows, axis=0)).save(contact_sheet)
    return scores


def _sheet_row(batch, outputs, index):
    image, mask = batch["image"][index], batch["mask"][index]
    holed = image * (1.0 - mask) + 0.5 * mask
    tiles = [holed, np.repeat(mask, 3, axis=-1), *(out[index] for out in outputs.values())]
    return np.round(np.concatenate(tiles, axis=1).clip(0, 1) * 255).astype(np.uint8)


def comparison_markdown(scores):
    """Markdown: one table per score (`TABLE_SCORES`), a row per hole-ratio bin, a column per
    method. `scores` is `evaluate`'s result or `report_json`'s ``"methods"``."""
    tables = {name: _rows(value) for name, value in scores.items()}
    names = list(tables)
    sections = []
    for key, label, _ in TABLE_SCORES:
        header = ["hole ratio", "images", *names]
        lines = [f"**{label}**", "", "| " + " | ".join(header) + " |",
                 "|" + " --- |" * len(header)]
        for row_index, row in enumerate(tables[names[0]]):
            cells = [row["bin"], str(row["count"])]
            cells += [score_text(key, tables[name][row_index][key]) for name in names]
            lines.append("| " + " | ".join(cells) + " |")
        sections.append("\n".join(lines))
    return "\n\n".join(sections)


def _rows(value):
    """Table rows of a `BinnedScores` or rows already (from a JSON report)."""
    return value.table() if hasattr(value, "table") else value


def report_json(scores, **protocol):
    """A JSON-ready report: ``{"protocol": protocol, "methods": {name: table rows}}``.

    `protocol` records how the scores were measured (e.g. ``images``, ``masks``, ``size``,
    ``limit``), so a reader can tell whether two reports are comparable.
    """
    return {"protocol": protocol, "methods": {name: _rows(value) for name, value in scores.items()}}
