"""The examples in the package's docstrings run and print what they show.

Each module's examples run with ``np``, ``tf`` and ``keras`` already imported, as the
docstrings assume.
"""

import doctest
import importlib
import pkgutil

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_inpaint


def _module_names():
    packages = pkgutil.walk_packages(keras_inpaint.__path__, "keras_inpaint.")
    return sorted(info.name for info in packages)


@pytest.mark.parametrize("module_name", _module_names())
def test_docstring_examples(module_name):
    module = importlib.import_module(module_name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in finder.find(module, module_name, extraglobs={"np": np, "tf": tf, "keras": keras}):
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed"
