"""What counts as a number in the arguments the package checks (mask generators, the data
pipeline, layer hyper-parameters)."""

import numpy as np


def is_finite_number(value, integer=False):
    """Whether `value` is a finite real number (an integer when `integer`), Python's or NumPy's;
    never a bool or a string.

    Example:
    >>> is_finite_number(2.5), is_finite_number(np.int64(3), integer=True)
    (True, True)
    >>> is_finite_number(float("nan")), is_finite_number(True), is_finite_number(2.0, True)
    (False, False, False)
    """
    kinds = (int, np.integer) if integer else (int, float, np.integer, np.floating)
    return isinstance(value, kinds) and not isinstance(value, bool) and bool(abs(value) < np.inf)
