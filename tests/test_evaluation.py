"""`keras-inpaint evaluate`: pairs, per-bin scores, the comparison table and the contact sheet."""

import numpy as np
from PIL import Image

from keras_inpaint import evaluation
from keras_inpaint.postprocess import ClassicalInpainter


def write_masks(folder, ratios, size=64):
    folder.mkdir()
    for index, ratio in enumerate(ratios):
        mask = np.zeros((size, size), np.uint8)
        mask[: int(round(ratio * size))] = 255
        Image.fromarray(mask).save(folder / f"{index:05d}.png")
    return folder


def test_evaluate_scores_each_method_per_bin(photo_folder, tmp_path):
    masks = write_masks(tmp_path / "masks", [0.05, 0.25, 0.25, 0.45])

    def grey(batch):
        return np.where(batch["mask"] > 0.5, 0.5, batch["image"])

    sheet = tmp_path / "sheet.png"
    scores = evaluation.evaluate({"telea": ClassicalInpainter("telea"), "grey": grey},
                                 photo_folder, masks, size=32, batch_size=3,
                                 contact_sheet=sheet, contact_rows=2)
    table = {row["bin"]: row for row in scores["telea"].table()}
    assert table["1-10%"]["count"] == 1 and table["20-30%"]["count"] == 2
    assert table["40-50%"]["count"] == 1 and table["all"]["count"] == 4
    # a smooth photo is filled better by Telea than by flat grey
    assert scores["telea"].table()[-1]["psnr"] > scores["grey"].table()[-1]["psnr"]
    assert Image.open(sheet).size == (32 * 4, 32 * 2)  # input, mask, 2 methods; 2 rows
    markdown = evaluation.comparison_markdown(scores)
    assert "| 20-30% | 2 |" in markdown and "telea PSNR (dB)" in markdown


def test_centre_square_crops_then_resizes():
    image = np.zeros((10, 20, 3), np.float32)
    image[:, 5:15] = 1.0  # the centre square is all white
    np.testing.assert_allclose(evaluation.centre_square(image, 4), 1.0)
