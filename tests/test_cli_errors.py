"""Bad command lines get one line naming what was received and exit status 2 (or a documented
behaviour), never a traceback, never lost work; real bugs keep their traceback."""

import json

import numpy as np
import pytest
from PIL import Image

from keras_inpaint import cli, cli_commands, evaluation, training, zoo
from test_evaluation import write_masks
from test_training import TOY


@pytest.fixture(autouse=True)
def empty_zoo(tmp_path, monkeypatch):
    """No trained zoo entry: `inpaint` needs --model, nothing is downloaded."""
    monkeypatch.setattr(zoo, "ZOO_ROOT", tmp_path / "empty_zoo")


def run_cli(capsys, *arguments):
    """(exit status, stderr) of ``keras-inpaint ARGUMENTS``, argparse's exits included."""
    capsys.readouterr()
    try:
        code = cli.main([str(argument) for argument in arguments])
    except SystemExit as exit_:
        code = exit_.code
    return code, capsys.readouterr().err


def assert_one_line_error(code, err, command, fragment):
    """Exit status 2 and stderr ending with one error line that contains `fragment`."""
    assert code == 2, err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"keras-inpaint {command}: error: ") and fragment in last, err


# ---- main ------------------------------------------------------------------------------------


def test_os_errors_are_one_line_and_other_exceptions_keep_their_traceback(capsys, monkeypatch):
    def denied(args):
        raise PermissionError(13, "Permission denied", "/root/secret")

    monkeypatch.setattr(cli_commands, "run_list", denied)
    code, err = run_cli(capsys, "list")
    assert_one_line_error(code, err, "list", "Permission denied: '/root/secret'")

    def bug(args):
        raise KeyError("a bug")

    monkeypatch.setattr(cli_commands, "run_list", bug)
    with pytest.raises(KeyError, match="a bug"):
        cli.main(["list"])


@pytest.mark.parametrize("arguments, option, received", [
    (["evaluate", "telea", "--images", "i", "--masks", "m", "--limit", "0"], "--limit", "0"),
    (["evaluate", "telea", "--images", "i", "--masks", "m", "--batch-size", "0"],
     "--batch-size", "0"),
    (["evaluate", "telea", "--images", "i", "--masks", "m", "--contact-rows", "0"],
     "--contact-rows", "0"),
    (["evaluate", "telea", "--images", "i", "--masks", "m", "--stride", "-2"], "--stride", "-2"),
    (["evaluate", "telea", "--images", "i", "--masks", "m", "--size", "x"], "--size", "x"),
    (["train", TOY, "--data", "d", "--output", "o", "--steps", "0"], "--steps", "0"),
    (["train", TOY, "--data", "d", "--output", "o", "--batch-size", "0"], "--batch-size", "0"),
    (["train", TOY, "--data", "d", "--output", "o", "--image-size", "-8"], "--image-size", "-8"),
    (["train", TOY, "--data", "d", "--output", "o", "--checkpoint-every", "0"],
     "--checkpoint-every", "0"),
    (["train", TOY, "--data", "d", "--output", "o", "--log-every", "0"], "--log-every", "0"),
    (["train", TOY, "--data", "d", "--output", "o", "--image-every", "0"], "--image-every", "0"),
    (["export", "telea", "d", "--version", "0"], "--version", "0"),
])
def test_counts_must_be_positive(capsys, arguments, option, received):
    code, err = run_cli(capsys, *arguments)
    assert_one_line_error(code, err, arguments[0],
                          f"argument {option}: must be a positive integer, received '{received}'")


def test_mask_threshold_must_be_in_the_unit_interval(capsys):
    code, err = run_cli(capsys, "inpaint", "i.png", "m.png", "-o", "o.png",
                        "--mask-threshold", "1.5")
    assert_one_line_error(code, err, "inpaint",
                          "argument --mask-threshold: must be a number in [0, 1), received '1.5'")


# ---- evaluate --------------------------------------------------------------------------------


@pytest.fixture
def masks(tmp_path):
    return write_masks(tmp_path / "masks", [0.25, 0.35])


def evaluate(capsys, photo_folder, masks, *arguments):
    return run_cli(capsys, "evaluate", "telea", "--images", photo_folder, "--masks", masks,
                   "--size", "32", *arguments)


def test_evaluate_creates_the_folders_of_its_outputs(capsys, photo_folder, masks, tmp_path):
    report, sheet = tmp_path / "new" / "r.json", tmp_path / "sheets" / "a" / "s.png"
    code, err = evaluate(capsys, photo_folder, masks, "--json", report, "--contact-sheet", sheet)
    assert code == 0, err
    assert list(json.loads(report.read_text())["methods"]) == ["telea"]
    assert sheet.is_file()


@pytest.mark.parametrize("outputs, fragment", [
    (["--json", "{file}/r.json"], "cannot create the folder of --json '{file}/r.json'"),
    (["--out", "{tmp}"], "--out must be a file name, received '{tmp}'"),
    (["--out", "{tmp}/reports/"], "--out must be a file name, received '{tmp}/reports/'"),
    (["--contact-sheet", "{tmp}/sheet.md"],
     "--contact-sheet must be an image file name (.png, .jpg, ...), received '{tmp}/sheet.md'"),
    (["--out", "{tmp}/r.md", "--json", "{tmp}/./r.md"],
     "--out and --json name the same path '{tmp}/./r.md'"),
])
def test_evaluate_checks_its_outputs_before_scoring(capsys, photo_folder, masks, tmp_path,
                                                    monkeypatch, outputs, fragment):
    def scored(*args, **kwargs):
        raise AssertionError("scored before checking the outputs")

    monkeypatch.setattr(evaluation, "evaluate", scored)
    file = tmp_path / "notes.md"
    file.write_text("notes\n")
    values = {"file": file, "tmp": tmp_path}
    code, err = evaluate(capsys, photo_folder, masks,
                         *(argument.format(**values) for argument in outputs))
    assert_one_line_error(code, err, "evaluate", fragment.format(**values))
    assert file.read_text() == "notes\n"


def test_evaluate_names_the_set_argument_a_method_rejects(capsys, photo_folder, masks,
                                                          monkeypatch):
    code, err = evaluate(capsys, photo_folder, masks, "--set", "telea.radiuz=5")
    assert_one_line_error(code, err, "evaluate", "radiuz")

    def load(name, **overrides):
        raise TypeError("__init__() got an unexpected keyword argument")

    monkeypatch.setattr(zoo, "load", load)
    code, err = evaluate(capsys, photo_folder, masks, "--set", "telea.radius=5")
    assert_one_line_error(code, err, "evaluate", "cannot load 'telea' with --set telea.radius=5: "
                          "__init__() got an unexpected keyword argument")
    with pytest.raises(TypeError):  # without --set, a TypeError is a bug: its traceback stays
        cli.main(["evaluate", "telea", "--images", str(photo_folder), "--masks", str(masks)])


# ---- inpaint ---------------------------------------------------------------------------------


def write_pair(images, masks, stem, mask_size=(24, 32)):
    images.mkdir(exist_ok=True)
    masks.mkdir(exist_ok=True)
    rng = np.random.default_rng(len(stem))
    Image.fromarray(rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)).save(images / f"{stem}.png")
    hole = np.zeros(mask_size, np.uint8)
    hole[4:12, 6:18] = 255
    Image.fromarray(hole).save(masks / f"{stem}.png")
    return images / f"{stem}.png", masks / f"{stem}.png"


def test_inpaint_refuses_the_same_file_for_result_and_comparison(capsys, tmp_path):
    image, mask = write_pair(tmp_path / "i", tmp_path / "m", "a")
    out = tmp_path / "out.png"
    code, err = run_cli(capsys, "inpaint", image, mask, "-o", out, "--compare", out,
                        "--model", "telea")
    assert_one_line_error(code, err, "inpaint", f"-o and --compare name the same path '{out}'")
    assert not out.exists()
    before = image.read_bytes()
    code, err = run_cli(capsys, "inpaint", image, mask, "-o", image, "--model", "telea")
    assert_one_line_error(code, err, "inpaint", f"IMAGE and -o name the same path '{image}'")
    assert image.read_bytes() == before
    code, err = run_cli(capsys, "inpaint", image.parent, mask.parent, "-o", image.parent,
                        "--model", "telea")
    assert_one_line_error(code, err, "inpaint", "IMAGE and -o name the same path")


@pytest.mark.parametrize("output", ["{tmp}", "{tmp}/results/", "{tmp}/result"])
def test_inpaint_output_of_one_image_must_be_an_image_file_name(capsys, tmp_path, output):
    image, mask = write_pair(tmp_path / "i", tmp_path / "m", "a")
    output = output.format(tmp=tmp_path)
    code, err = run_cli(capsys, "inpaint", image, mask, "-o", output, "--model", "telea")
    assert_one_line_error(code, err, "inpaint",
                          f"-o must be an image file name (.png, .jpg, ...), received '{output}'")


def test_inpaint_folder_skips_bad_pairs_writes_the_others_and_exits_2(capsys, tmp_path):
    images, masks, out = tmp_path / "images", tmp_path / "masks", tmp_path / "out"
    for stem in ("a", "d"):
        write_pair(images, masks, stem)
    write_pair(images, masks, "b")
    (images / "b.png").write_bytes(b"not a png")
    write_pair(images, masks, "c", mask_size=(10, 10))
    code, err = run_cli(capsys, "inpaint", images, masks, "-o", out, "--model", "telea",
                        "--compare", tmp_path / "compare")
    assert_one_line_error(code, err, "inpaint", "2 image(s) failed and were skipped (reasons "
                          f"above): b.png, c.png; wrote 2 image(s) to {out}")
    assert "warning: skipped b.png: cannot read image file" in err
    assert "warning: skipped c.png: mask" in err and "has size (10, 10)" in err
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "d.png"]
    assert sorted(p.name for p in (tmp_path / "compare").iterdir()) == ["a.png", "d.png"]


@pytest.mark.parametrize("arguments, fragment", [
    (["--postprocess", "blur"], "Unknown postprocessor 'blur'"),
    (["--model", "no_such_model"], "no_such_model"),
    (["--compare", "{out}"], "-o and --compare name the same path"),
])
def test_inpaint_folder_stops_at_once_on_errors_of_the_whole_job(capsys, tmp_path, arguments,
                                                                 fragment):
    images, masks, out = tmp_path / "images", tmp_path / "masks", tmp_path / "out"
    write_pair(images, masks, "a")
    code, err = run_cli(capsys, "inpaint", images, masks, "-o", out, "--model", "telea",
                        *(argument.format(out=out) for argument in arguments))
    assert_one_line_error(code, err, "inpaint", fragment)
    assert "warning" not in err and not out.exists()


def test_inpaint_folder_checks_its_output_folders_before_loading_the_model(capsys, tmp_path):
    images, masks, out = tmp_path / "images", tmp_path / "masks", tmp_path / "o.png"
    write_pair(images, masks, "a")
    out.write_bytes(b"an earlier result")
    # an unknown model too: the output is checked first, before any model is loaded
    code, err = run_cli(capsys, "inpaint", images, masks, "-o", out, "--model", "no_such_model")
    assert_one_line_error(code, err, "inpaint", f"IMAGE is a folder, so -o must be a folder too: "
                                                f"{str(out)!r} is a file")
    assert out.read_bytes() == b"an earlier result"


# ---- publish ---------------------------------------------------------------------------------


def test_publish_names_a_notes_folder_or_an_evaluation_that_is_not_a_report(capsys, tmp_path):
    notes = tmp_path / "notes.md"
    notes.write_text("# Notes\n")
    (tmp_path / "list.json").write_text("[1, 2]\n")
    (tmp_path / "binary.md").write_bytes(b"\xff\xfe\x00")
    publish = ["publish", tmp_path / "run", tmp_path / "preset"]
    for options, fragment in [
        (["--notes", tmp_path], f"--notes must be a file, received the folder '{tmp_path}'"),
        (["--notes", tmp_path / "binary.md"], f"--notes '{tmp_path / 'binary.md'}' is not UTF-8"),
        (["--evaluation", notes], f"--evaluation '{notes}' is not a `keras-inpaint evaluate "
                                  "--json` report: Expecting value: line 1 column 1"),
        (["--evaluation", tmp_path / "list.json"], "is not a `keras-inpaint evaluate --json` "
                                                   'report (it has no "methods")'),
    ]:
        code, err = run_cli(capsys, *publish, *options)
        assert_one_line_error(code, err, "publish", fragment)
    assert not (tmp_path / "preset").exists()


# ---- train -----------------------------------------------------------------------------------


def train_command(data, output, *options):
    return ["train", TOY, "--data", data, "--output", output, "--image-size", "16",
            "--batch-size", "2", "--steps", "1", *options]


def test_train_names_a_model_module_or_class_that_does_not_exist(capsys, photo_folder,
                                                                 tmp_path):
    for model, fragment in [
        ("no_such_module_xyz.sub:Model",
         "cannot import the model 'no_such_module_xyz.sub:Model': No module named"),
        ("toy_model:NoSuchClass", "module 'toy_model' has no 'NoSuchClass'"),
    ]:
        code, err = run_cli(capsys, "train", model, "--data", photo_folder, "--output",
                            tmp_path / "run")
        assert_one_line_error(code, err, "train", fragment)
    assert not (tmp_path / "run").exists()


def test_a_missing_import_inside_the_model_module_keeps_its_traceback(tmp_path, monkeypatch):
    (tmp_path / "needs_a_dependency.py").write_text("import no_such_dependency_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError, match="no_such_dependency_xyz"):
        training.train("needs_a_dependency:Model", tmp_path, tmp_path / "run")


def test_train_output_must_not_be_a_file(capsys, photo_folder, tmp_path):
    notes = tmp_path / "notes.md"
    notes.write_text("notes\n")
    code, err = run_cli(capsys, *train_command(photo_folder, notes))
    assert_one_line_error(code, err, "train",
                          f"output must be a run directory, received the file '{notes}'")
    assert notes.read_text() == "notes\n"


def test_a_bad_data_source_leaves_nothing_to_block_the_retry(capsys, photo_folder, tmp_path):
    run = tmp_path / "run"
    (tmp_path / "empty").mkdir()
    for data, fragment in [
        (tmp_path / "empty", "holds no image files"),
        ("tfds:nonexistent_ds_xyz", "TFDS has no dataset 'nonexistent_ds_xyz'"),
    ]:
        code, err = run_cli(capsys, *train_command(data, run))
        assert_one_line_error(code, err, "train", fragment)
        assert not (run / "run.json").exists()
    code, err = run_cli(capsys, *train_command(photo_folder, run))
    assert code == 0, err
    assert (run / "model.keras").is_file()


def fail_at_step(step):
    def write_images(writer, model, batch, strategy, current, max_images=4):
        if current == step:
            raise RuntimeError(f"failed at step {current}")

    return write_images


def train_toy(data, output, steps, **kwargs):
    return training.train(TOY, data, output, image_size=16, batch_size=2, steps=steps,
                          checkpoint_every=1, log_every=1, image_every=1, verbose=0, **kwargs)


def test_a_run_failing_before_its_first_checkpoint_can_be_retried(photo_folder, tmp_path,
                                                                  monkeypatch):
    monkeypatch.setattr(training, "_write_images", fail_at_step(1))  # before checkpoint 1
    with pytest.raises(RuntimeError, match="failed at step 1"):
        train_toy(photo_folder, tmp_path, steps=2)
    assert not (tmp_path / "run.json").exists()
    monkeypatch.undo()
    model = train_toy(photo_folder, tmp_path, steps=1, seed=3)  # other settings, no --resume
    assert int(model.train_steps.numpy()) == 1


def test_a_run_failing_after_a_checkpoint_keeps_its_run_json(photo_folder, tmp_path,
                                                             monkeypatch):
    monkeypatch.setattr(training, "_write_images", fail_at_step(2))  # after checkpoint 1
    with pytest.raises(RuntimeError, match="failed at step 2"):
        train_toy(photo_folder, tmp_path, steps=3)
    assert json.loads((tmp_path / "run.json").read_text())["steps"] == 3
    monkeypatch.undo()
    assert int(train_toy(photo_folder, tmp_path, steps=2, resume=True).train_steps.numpy()) == 2


def test_resume_compares_data_folders_as_resolved_paths(photo_folder, tmp_path, monkeypatch):
    monkeypatch.chdir(photo_folder.parent)
    run = tmp_path / "run"
    train_toy(photo_folder.name, run, steps=1)
    recorded = json.loads((run / "run.json").read_text())
    assert recorded["data"] == str(photo_folder.resolve())
    train_toy(f"./{photo_folder.name}/", run, steps=2, resume=True)
    recorded["data"] = photo_folder.name  # as written by an older version
    (run / "run.json").write_text(json.dumps(recorded))
    assert int(train_toy(photo_folder, run, steps=3, resume=True).train_steps.numpy()) == 3
    assert json.loads((run / "run.json").read_text())["data"] == str(photo_folder.resolve())
    (tmp_path / "other").mkdir()
    Image.open(next(photo_folder.glob("*.png"))).save(tmp_path / "other" / "x.png")
    with pytest.raises(ValueError, match=r"with different settings \(data: "):
        train_toy(tmp_path / "other", run, steps=4, resume=True)


def test_zoom_reaches_the_data_is_recorded_and_must_match_on_resume(capsys, photo_folder,
                                                                    tmp_path, monkeypatch):
    ranges = []
    make_dataset = training.inpaint_data.make_dataset

    def spy(*args, **kwargs):
        ranges.append(kwargs["scale_range"])
        return make_dataset(*args, **kwargs)

    monkeypatch.setattr(training.inpaint_data, "make_dataset", spy)
    run = tmp_path / "run"
    code, err = run_cli(capsys, *train_command(photo_folder, run, "--zoom", "1", "1.5"))
    assert code == 0, err
    recorded = json.loads((run / "run.json").read_text())
    assert recorded["zoom"] == [1.0, 1.5] and ranges == [(1.0, 1.5)]
    changed = r"different settings \(zoom: \[1.0, 1.5\] -> \[1.0, 2.0\]"
    with pytest.raises(ValueError, match=changed):
        train_toy(photo_folder, run, steps=2, resume=True)
    del recorded["zoom"]  # a run.json from before the setting: it ran with the default
    (run / "run.json").write_text(json.dumps(recorded))
    assert int(train_toy(photo_folder, run, steps=2, resume=True).train_steps.numpy()) == 2
    assert json.loads((run / "run.json").read_text())["zoom"] == [1.0, 2.0]
    assert ranges[-1] == (1.0, 2.0)


@pytest.mark.parametrize("zoom", [("0.5", "1"), ("2", "1"), ("1", "inf")])
def test_a_bad_zoom_is_one_line_and_starts_no_run(capsys, photo_folder, tmp_path, zoom):
    run = tmp_path / "run"
    code, err = run_cli(capsys, *train_command(photo_folder, run, "--zoom", *zoom))
    low, high = map(float, zoom)
    expected = f"with 1 <= low <= high, received ({low!r}, {high!r})"
    assert_one_line_error(code, err, "train", expected)
    assert not run.exists()
