"""The mean of several trained models' weights (checkpoint averaging, a "model soup").

Averaging the weights of checkpoints of one training run, or of short fine-tuning runs that
started from one model, often scores better than any of them alone (Izmailov et al. 2018,
"Averaging weights leads to wider optima and better generalization"; Wortsman et al. 2022,
"Model soups"): for each floating-point variable ``w``,

    w_out = (1 / K) * sum_k w_k

over the K sources. Variables that are not floating point (the step counter, random-number
generator states) are copied from the first source, as is the configuration (loss weights and
learning rates may differ between the sources; the architecture may not). The models must
share a basin (a common ancestor and a few thousand steps apart): the mean of unrelated
models is not a model. Batch-normalisation moving statistics are averaged like the other
variables; Izmailov et al. recompute them instead with a pass over the training data, which
this function does not do (statistics frozen during the runs, as those of `partial_conv`'s
encoder in its fine-tuning phase, are the same in every source anyway).

    keras-inpaint average --output soup.keras runs/a runs/b/model.keras partial_conv
"""

import os
from pathlib import Path

import numpy as np

from keras_inpaint import zoo
from keras_inpaint.files import atomic_save


def average_weights(sources, output, overwrite=False):
    """Average the weights of `sources` into a new ``.keras`` file `output`.

    Args:
        sources: two or more run directories (their ``model.keras``), ``.keras`` files,
            preset folders or zoo names (anything `keras_inpaint.zoo.load` takes, and runs).
        output: the ``.keras`` file to write (atomically: a temporary file renamed into place);
            never inside a source run directory (its ``model.keras`` would no longer match its
            ``model.weights.h5``) nor a source file itself.
        overwrite: replace an existing `output` (otherwise it is an error).

    Returns:
        The averaged model (the first source's class and configuration).

    Raises:
        ValueError: fewer than two sources, an `output` not ending in ``.keras``, existing
            without `overwrite` or inside a source, or a source whose class or weight shapes
            differ from the first's (named with what differs).
    """
    sources = [os.fspath(source) for source in sources]
    if len(sources) < 2:
        raise ValueError(f"averaging needs at least two sources, received {sources!r}")
    if not os.fspath(output).endswith(".keras"):
        raise ValueError(f"output must be a .keras file, received {os.fspath(output)!r}")
    _check_output(Path(output), sources, overwrite)
    first = zoo.load(zoo.trained_model_file(sources[0]))
    floating = [index for index, w in enumerate(first.weights)
                if np.issubdtype(np.dtype(w.dtype), np.floating)]
    sums = {index: first.weights[index].numpy().astype(np.float64) for index in floating}
    for source in sources[1:]:  # one more model in memory at a time
        model = zoo.load(zoo.trained_model_file(source))
        _check_same_architecture(first, sources[0], model, source)
        for index in floating:
            sums[index] += model.weights[index].numpy()
    for index, total in sums.items():
        variable = first.weights[index]
        variable.assign((total / len(sources)).astype(variable.dtype))
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    atomic_save(first.save, output)
    return first


def _check_same_architecture(first, first_source, model, source):
    if type(model) is not type(first):
        raise ValueError(f"cannot average {source!r} ({type(model).__name__}) with "
                         f"{first_source!r} ({type(first).__name__})")
    problem = None
    if len(model.weights) != len(first.weights):
        problem = f"{len(model.weights)} variables against {len(first.weights)}"
    else:
        for index, (ours, theirs) in enumerate(zip(model.weights, first.weights)):
            if tuple(ours.shape) != tuple(theirs.shape):
                problem = (f"variable {index} ({ours.path}) has shape {tuple(ours.shape)} "
                           f"against {tuple(theirs.shape)}")
                break
    if problem:
        raise ValueError(f"cannot average {source!r} with {first_source!r}: {problem}; check "
                         "--set width and the other architecture arguments")


def _check_output(output, sources, overwrite):
    if output.exists() and not overwrite:
        raise ValueError(
            f"{os.fspath(output)!r} already exists; pass overwrite=True (--overwrite on the "
            "command line) to replace it"
        )
    resolved = output.resolve()
    for source in sources:
        source = Path(source).resolve()
        if source == resolved or source == resolved.parent or source in resolved.parents:
            raise ValueError(
                f"refusing to write {os.fspath(output)!r} into the source {os.fspath(source)!r}: "
                "write the average elsewhere"
            )
