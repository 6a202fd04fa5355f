"""docs/training/widen_gated_conv.py: a wider GatedConvInpainter that computes what the narrow
one does (Net2WiderNet), its copies split unevenly, and its refusals."""

from pathlib import Path

import keras
import numpy as np
import pytest

from keras_inpaint import zoo
from keras_inpaint.models.gated_conv import GatedConvInpainter
from test_diagnostics import load_script

SCRIPT = Path(__file__).resolve().parent.parent / "docs" / "training" / "widen_gated_conv.py"


def narrow_model(guidance_channels=0):
    """A width-4 model with random biases too (Keras starts them at zero)."""
    keras.utils.set_random_seed(0)
    model = GatedConvInpainter(image_size=32, width=4, guidance_channels=guidance_channels)
    rng = np.random.default_rng(1)
    for variable in model.generator.weights:
        if variable.path.endswith("bias"):
            variable.assign(rng.normal(0, 0.1, variable.shape).astype("float32"))
    return model


@pytest.mark.parametrize("width,guidance_channels", [(8, 0), (12, 1)])
def test_widened_model_computes_the_same(width, guidance_channels):
    script = load_script(SCRIPT)
    model = narrow_model(guidance_channels)
    wide = script.widen(model, width, seed=3)
    assert wide.width == width and wide.guidance_channels == guidance_channels
    assert wide.generator.count_params() > 2 * model.generator.count_params()
    assert script.largest_difference(model, wide) < 1e-5
    # the first layer's kept channels are the narrow layer's, features then gates
    narrow_kernel = model.generator.get_layer("conv1").kernel.numpy()
    wide_kernel = wide.generator.get_layer("conv1").kernel.numpy()
    half, wide_half = narrow_kernel.shape[-1] // 2, wide_kernel.shape[-1] // 2
    np.testing.assert_array_equal(wide_kernel[..., :half], narrow_kernel[..., :half])
    np.testing.assert_array_equal(wide_kernel[..., wide_half:wide_half + half],
                                  narrow_kernel[..., half:])
    # a copied channel's readers get unequal parts: conv2's rows for conv1's channel c and its
    # copies are multiples of the narrow row, with factors that sum to 1 and are not all equal
    narrow_rows = model.generator.get_layer("conv2_downsample").kernel.numpy()
    wide_rows = wide.generator.get_layer("conv2_downsample").kernel.numpy()
    copied = wide_kernel[..., half:wide_half]  # the added channels' features
    source = next(c for c in range(half)
                  if np.array_equal(copied[..., 0], narrow_kernel[..., c]))
    kept = narrow_rows.shape[-1] // 2  # conv2's own kept feature channels
    factors = [wide_rows[..., j, :kept] / narrow_rows[..., source, :kept] for j in (source, half)]
    for factor in factors:
        np.testing.assert_allclose(factor, factor.flat[0], rtol=1e-5)
    factors = [factor.flat[0] for factor in factors]
    assert abs(sum(factors) - 1) < 1e-5 and abs(factors[0] - factors[1]) > 1e-3


def test_script_saves_the_widened_model_and_refuses_narrower_widths(tmp_path, capsys):
    script = load_script(SCRIPT)
    model = narrow_model()
    model.save(tmp_path / "narrow.keras")
    script.main([str(tmp_path / "narrow.keras"), "8", str(tmp_path / "wide.keras")])
    assert "width 4 -> 8" in capsys.readouterr().out
    record = zoo.initialisation_record(str(tmp_path / "wide.keras"))  # the record beside it
    assert record["command"].endswith(f"widen_gated_conv.py {tmp_path / 'narrow.keras'} 8 "
                                      f"{tmp_path / 'wide.keras'}")
    assert record["initialised_from"] == {"source": str(tmp_path / "narrow.keras")}
    wide = keras.saving.load_model(tmp_path / "wide.keras")
    assert script.largest_difference(model, wide) < 1e-5
    for width in (4, 10):
        with pytest.raises(ValueError, match=f"multiple of 4 above the model's 4, received {width}"):
            script.widen(model, width)
