"""The four scores of an evaluation, and how reports, model cards and `keras-inpaint list`
print them (a light module: no TensorFlow)."""

TABLE_SCORES = (("l1_percent", "L1 (%)", "{:.3f}"), ("l2_percent", "L2 (%)", "{:.3f}"),
                ("psnr", "PSNR (dB)", "{:.2f}"), ("ssim", "SSIM", "{:.4f}"))
"""(key, label, format) of the scores in the Markdown tables: masked L1 and L2 in % of the
[0, 1] range (lower is better), PSNR in dB and SSIM (higher is better)."""

_FORMATS = {key: text for key, _, text in TABLE_SCORES}


MISSING = "-"
"""How a table prints the score of an empty hole-ratio bin (``None`` in rows and JSON)."""


def score_text(key, value):
    """A score as the evaluation tables print it (PSNR 27.00, not 27); other keys (a score
    given with ``publish --score``) to 4 significant digits; `MISSING` for an empty bin's
    ``None`` (or the NaN that reports written before 2026-11-29 hold there)."""
    if value is None or value != value:
        return MISSING
    return _FORMATS.get(key, "{:.4g}").format(value)
