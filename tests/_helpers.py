"""Assertions shared by the tests."""

from __future__ import annotations

from typing import Any

import numpy as np

from nnarray import backend

TOLERANCES = {"float64": (1e-10, 1e-12), "float32": (2e-5, 2e-6)}
"""(rtol, atol) against the NumPy float64 reference, by dtype."""


def assert_placed(actual: Any, case: Any) -> None:
    """``actual`` lives on ``case``'s backend and device and has its dtype."""
    target = backend.target_of(actual)
    assert target.backend == case.backend, f"namespace {target.backend}, expected {case.backend}"
    assert target.device == case.device, f"device {target.device}, expected {case.device}"
    assert backend.dtype_name(actual.dtype) == case.dtype, (
        f"dtype {actual.dtype}, expected {case.dtype}"
    )


def assert_close(actual: Any, desired: Any, case: Any, scale: float = 1.0) -> None:
    """``actual`` is placed as ``case`` says, has the shape of ``desired``
    (NumPy float64) and agrees in value to the dtype's tolerance (``scale``
    widens atol for sums of many terms)."""
    assert_placed(actual, case)
    desired = np.asarray(desired, dtype=np.float64)
    assert tuple(actual.shape) == desired.shape, f"shape {tuple(actual.shape)} != {desired.shape}"
    rtol, atol = TOLERANCES[case.dtype]
    np.testing.assert_allclose(backend.to_numpy(actual).astype(np.float64), desired,
                               rtol=rtol, atol=atol * scale)
