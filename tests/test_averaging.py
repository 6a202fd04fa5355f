"""`keras-inpaint average`: the mean of float weights, counters from the first source, clear
errors for mismatched architectures and bad arguments."""

import keras
import numpy as np
import pytest

from keras_inpaint import cli
from keras_inpaint.averaging import average_weights
from test_training import toy_train


@pytest.fixture(scope="module")
def runs(photo_folder, tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    toy_train(photo_folder, root / "a", steps=1, overrides={"width": 3})
    toy_train(photo_folder, root / "b", steps=3, overrides={"width": 3}, seed=1)
    toy_train(photo_folder, root / "c", steps=2, overrides={"width": 3, "adversarial_weight": 0.5},
              seed=2)
    toy_train(photo_folder, root / "wide", steps=1, overrides={"width": 4})
    return root


def test_the_mean_of_each_float_weight(runs, tmp_path):
    sources = [runs / "a", runs / "b" / "model.keras", runs / "c"]
    averaged = average_weights(sources, tmp_path / "soup.keras")
    loaded = [keras.saving.load_model(runs / name / "model.keras") for name in "abc"]
    reloaded = keras.saving.load_model(tmp_path / "soup.keras")
    for index, variable in enumerate(reloaded.weights):
        values = np.stack([model.weights[index].numpy() for model in loaded])
        expected = values.mean(axis=0) if np.issubdtype(values.dtype, np.floating) else values[0]
        np.testing.assert_allclose(variable.numpy(), expected, rtol=1e-6, atol=1e-7)
        np.testing.assert_array_equal(variable.numpy(), averaged.weights[index].numpy())
    assert int(reloaded.train_steps.numpy()) == 1  # the first source's counter
    assert reloaded.adversarial_weight == loaded[0].adversarial_weight  # and configuration
    assert not list(tmp_path.glob("tmp-*"))


def test_mismatched_sources_and_bad_arguments_are_named(runs, tmp_path):
    with pytest.raises(ValueError, match=r"cannot average '.*wide' with '.*a': variable \d+ "
                                         r"\(.*kernel\) has shape \(3, 3, 4, 4\) against "
                                         r"\(3, 3, 4, 3\); check --set width"):
        average_weights([runs / "a", runs / "wide"], tmp_path / "x.keras")
    with pytest.raises(ValueError, match="at least two sources"):
        average_weights([runs / "a"], tmp_path / "x.keras")
    with pytest.raises(ValueError, match="must be a .keras file, received '.*x.h5'"):
        average_weights([runs / "a", runs / "b"], tmp_path / "x.h5")
    (tmp_path / "unfinished").mkdir()
    (tmp_path / "unfinished" / "run.json").write_text("{}")
    with pytest.raises(ValueError, match="has not finished"):
        average_weights([runs / "a", tmp_path / "unfinished"], tmp_path / "x.keras")
    assert not (tmp_path / "x.keras").exists()


def test_cli(runs, tmp_path, capsys):
    output = tmp_path / "deeper" / "soup.keras"
    assert cli.main(["average", str(runs / "a"), str(runs / "b"), "--output", str(output)]) == 0
    assert f"averaged 2 models into {output}" in capsys.readouterr().out
    assert output.is_file()
    again = ["average", str(runs / "a"), str(runs / "b"), "--output", str(output)]
    assert cli.main(again) == 2 and "already exists" in capsys.readouterr().err
    assert cli.main([*again, "--overwrite"]) == 0
    # never into a source run (its model.keras would stop matching its model.weights.h5)
    assert cli.main(["average", str(runs / "a"), str(runs / "b"), "--output",
                     str(runs / "a" / "model.keras"), "--overwrite"]) == 2
    assert "refusing to write" in capsys.readouterr().err
    assert cli.main(["average", str(runs / "a"), str(runs / "wide"), "--output",
                     str(tmp_path / "y.keras")]) == 2
    assert "keras-inpaint average: error: cannot average" in capsys.readouterr().err
