"""`keras-inpaint evaluate`: pairs, per-bin scores, the comparison table and the contact sheet."""

import json

import numpy as np
import pytest
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
    sheet_pixels = np.asarray(Image.open(sheet))
    assert sheet_pixels.shape == (32 * 2, 32 * 4, 3)  # input, mask, 2 methods; 2 rows
    # the rows are spread over the masks: the first (5 % hole) and the last (45 %)
    mask_tiles = sheet_pixels[:, 32:64, 0] > 127
    assert mask_tiles[:32].mean() < 0.1 and mask_tiles[32:].mean() > 0.4
    markdown = evaluation.comparison_markdown(scores)
    assert "**PSNR (dB)**" in markdown and "**L2 (%)**" in markdown
    assert "| hole ratio | images | telea | grey |" in markdown
    psnr_table = markdown.split("**PSNR (dB)**")[1].split("**SSIM**")[0]
    all_row = next(line for line in psnr_table.splitlines() if line.startswith("| all |"))
    expected = [f"{scores[name].table()[-1]['psnr']:.2f}" for name in ("telea", "grey")]
    assert all_row == f"| all | 4 | {expected[0]} | {expected[1]} |"
    assert "| 10-20% | 0 | - | - |" in psnr_table  # an empty bin
    # strict JSON: an empty bin's scores are null, not NaN (which JSON does not have)
    report = json.loads(json.dumps(evaluation.report_json(scores, size=32), allow_nan=False))
    assert next(row for row in report["methods"]["telea"] if row["bin"] == "10-20%") == {
        "bin": "10-20%", "count": 0, "l1_percent": None, "l2_percent": None, "psnr": None,
        "ssim": None}
    assert report["protocol"] == {"size": 32}
    assert evaluation.comparison_markdown(report["methods"]) == markdown


def test_stride_keeps_each_masks_photo(photo_folder, tmp_path):
    masks = write_masks(tmp_path / "masks", [0.05, 0.15, 0.25, 0.35, 0.45])
    full = list(evaluation.evaluation_pairs(photo_folder, masks, size=16))
    subset = list(evaluation.evaluation_pairs(photo_folder, masks, size=16, stride=2))
    assert [name for *_, name in subset] == [full[i][2] for i in (0, 2, 4)]
    np.testing.assert_array_equal(subset[1][1], full[2][1])
    with pytest.raises(ValueError, match="stride must be a positive int, received 0"):
        list(evaluation.evaluation_pairs(photo_folder, masks, stride=0))


def test_masks_without_a_hole_are_skipped_and_named(photo_folder, tmp_path):
    masks = write_masks(tmp_path / "masks", [0.25, 0.0, 0.45])  # 00001.png is empty
    full = list(evaluation.evaluation_pairs(photo_folder, write_masks(tmp_path / "all",
                                                                       [0.25, 0.35, 0.45]), 16))
    with pytest.warns(UserWarning, match=r"skipped 1 mask\(s\) without a hole at 16x16: "
                                         r"00001.png"):
        pairs = list(evaluation.evaluation_pairs(photo_folder, masks, size=16))
    assert [name for *_, name in pairs] == [full[0][2], full[2][2]]  # each mask's own photo
    empty = write_masks(tmp_path / "empty", [0.0, 0.0])
    with pytest.raises(ValueError, match="no mask in .*empty' has a hole at 16x16"):
        list(evaluation.evaluation_pairs(photo_folder, empty, size=16))


def test_postprocessed_reads_only_the_known_pixels(photo_folder, tmp_path):
    rng = np.random.default_rng(0)
    image = rng.uniform(0.2, 0.8, (2, 32, 32, 3)).astype(np.float32)
    mask = np.zeros((2, 32, 32, 1), np.float32)
    mask[:, 8:20, 10:24] = 1

    def grey(batch):
        return np.where(batch["mask"] > 0, 0.5, batch["image"])

    blended = evaluation.postprocessed(grey, "poisson")
    out = blended({"image": image, "mask": mask})
    other_truth = np.where(mask > 0, 1.0 - image, image)  # the same known pixels
    np.testing.assert_array_equal(out, blended({"image": other_truth, "mask": mask}))
    np.testing.assert_array_equal(out[:, :8], image[:, :8])  # known pixels untouched
    hole = np.broadcast_to(mask > 0, out.shape)
    assert np.abs(out[hole] - 0.5).max() > 0.05  # the flat fill was blended into its border
    with pytest.raises(ValueError, match="Unknown postprocessor 'blur'"):
        evaluation.postprocessed(grey, "blur")


def test_centre_square_crops_then_resizes():
    image = np.zeros((10, 20, 3), np.float32)
    image[:, 5:15] = 1.0  # the centre square is all white
    np.testing.assert_allclose(evaluation.centre_square(image, 4), 1.0)


def test_cli_labels_columns_and_writes_markdown_and_json(photo_folder, tmp_path, capsys):
    from keras_inpaint import cli

    masks = write_masks(tmp_path / "masks", [0.25, 0.35])
    arguments = ["evaluate", "fast=telea", "navier_stokes", "--images", str(photo_folder),
                 "--masks", str(masks), "--size", "32", "--out", str(tmp_path / "r.md"),
                 "--json", str(tmp_path / "r.json"), "--set", "fast.radius=7"]
    assert cli.main(arguments) == 0
    report = json.loads((tmp_path / "r.json").read_text())
    assert list(report["methods"]) == ["fast", "navier_stokes"]
    assert report["protocol"] == {"images": str(photo_folder), "masks": str(masks),
                                  "size": 32, "limit": None, "stride": 1,
                                  "fast": {"radius": 7}}
    counts = {row["bin"]: row["count"] for row in report["methods"]["fast"]}
    assert counts["20-30%"] == counts["30-40%"] == 1 and counts["all"] == 2
    markdown = (tmp_path / "r.md").read_text()
    assert "| hole ratio | images | fast | navier_stokes |" in markdown
    assert markdown.strip() in capsys.readouterr().out
    assert cli.main(["evaluate", "telea", "telea=navier_stokes", "--images", str(photo_folder),
                     "--masks", str(masks)]) == 2
    assert "two methods are labelled 'telea'" in capsys.readouterr().err
    assert cli.main(["evaluate", "telea", "--images", str(photo_folder), "--masks", str(masks),
                     "--set", "gated_conv.width=8"]) == 2
    assert "LABEL one of telea, received 'gated_conv.width=8'" in capsys.readouterr().err


def test_cli_scores_a_postprocessed_column(photo_folder, tmp_path, capsys):
    from keras_inpaint import cli

    masks = write_masks(tmp_path / "masks", [0.25, 0.35])
    common = ["--images", str(photo_folder), "--masks", str(masks), "--size", "32"]
    assert cli.main(["evaluate", "telea", "blend=telea", "--postprocess", "blend=poisson",
                     "--json", str(tmp_path / "r.json"), *common]) == 0
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["protocol"]["postprocess"] == {"blend": "poisson"}
    expected = evaluation.evaluate(
        {"blend": evaluation.postprocessed(ClassicalInpainter("telea"), "poisson")},
        photo_folder, masks, size=32)["blend"].table()
    scored = [row for row in report["methods"]["blend"] if row["count"]]
    assert scored == [pytest.approx(row) for row in expected if row["count"]]
    assert report["methods"]["telea"] != report["methods"]["blend"]
    for arguments, message in [
        (["--postprocess", "gated_conv=poisson"], "LABEL one of telea, received 'gated_conv="),
        (["--postprocess", "telea"], "LABEL one of telea, received 'telea'"),
        (["--postprocess", "telea=blur"], "Unknown postprocessor 'blur'"),
        (["--postprocess", "telea=poisson", "--postprocess", "telea=poisson"],
         "--postprocess names 'telea' twice"),
    ]:
        capsys.readouterr()
        assert cli.main(["evaluate", "telea", *common, *arguments]) == 2
        assert message in capsys.readouterr().err
