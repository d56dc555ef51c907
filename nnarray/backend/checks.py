"""Checks of number arguments (counts, seeds, rates), with errors that name
the argument."""

from __future__ import annotations

import math
import operator
from typing import Any

import numpy as np


def check_integer(name: str, value: Any, low: int, high: int | None = None) -> int:
    """``value`` as an int in ``low..high`` (no upper bound when ``high`` is
    ``None``): any integer with ``__index__``, such as ``np.int64``, but not a
    bool (NumPy's ``np.bool_`` too: it has ``__index__`` before NumPy 2.3);
    else ``TypeError`` or ``ValueError`` naming ``name``."""
    span = f"an integer >= {low}" if high is None else f"an integer in {low}..{high}"
    if isinstance(value, bool | np.bool_) or not hasattr(value, "__index__"):
        raise TypeError(f"{name} must be {span}, got {value!r}")
    number = operator.index(value)
    if number < low or (high is not None and number > high):
        raise ValueError(f"{name} must be {span}, got {value!r}")
    return number


def check_seed(seed: Any, legacy: bool = False) -> int | None:
    """``seed`` as ``None`` or an int >= 0 (< 2**32 for the ``legacy``
    generator, NumPy's ``RandomState``), or an error naming ``seed``."""
    if seed is None:
        return None
    if isinstance(seed, bool | np.bool_) or not hasattr(seed, "__index__"):
        raise TypeError(f"seed must be None or an integer >= 0, got {seed!r}")
    value = int(seed)
    if value < 0 or (legacy and value >= 2**32):
        bound = " and < 2**32 for generator='legacy'" if legacy else ""
        raise ValueError(f"seed must be an integer >= 0{bound}, got {seed!r}")
    return value


def check_number(name: str, value: Any, low: float | None = None, high: float | None = None,
                 *, open_low: bool = False, open_high: bool = False) -> float:
    """``value`` as a finite Python float in the interval from ``low`` to
    ``high`` (``None``: unbounded; ``open_low``/``open_high`` exclude the
    end), else ``TypeError`` or ``ValueError`` naming ``name``.

    A number is anything with ``__float__`` (Python and NumPy scalars, 0-d
    arrays), but not a bool or ``np.bool_``, a complex, or a string: ``"0.1"``
    is a mistake to report, not a rate to parse."""
    ends = ("(" if open_low else "[", ")" if open_high else "]")
    if low is not None and high is not None:
        span = f"a number in {ends[0]}{low:g}, {high:g}{ends[1]}"
    elif low is not None:
        span = f"a finite number {'>' if open_low else '>='} {low:g}"
    elif high is not None:
        span = f"a finite number {'<' if open_high else '<='} {high:g}"
    else:
        span = "a finite number"
    if (isinstance(value, bool | np.bool_ | complex | np.complexfloating)
            or not hasattr(value, "__float__")):
        raise TypeError(f"{name} must be {span}, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{name} must be {span}, got {value!r}") from e
    except OverflowError:
        number = math.inf
    if (not math.isfinite(number)
            or (low is not None and (number < low or (open_low and number == low)))
            or (high is not None and (number > high or (open_high and number == high)))):
        raise ValueError(f"{name} must be {span}, got {value!r}")
    return number
