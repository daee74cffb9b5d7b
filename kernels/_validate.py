"""Argument checks shared by the kernels' Python layer.

The Cython loops trust their inputs; these helpers turn user mistakes into a ``ValueError``
that names the argument, before any loop runs.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def is_scalar(x: Any) -> bool:
    return np.ndim(x) == 0


def as_float_array(name: str, x: Any) -> np.ndarray:
    """Return ``x`` as a C-contiguous 1-D float64 array, or raise ValueError naming ``name``."""
    try:
        arr = np.ascontiguousarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: not a number or array of numbers ({exc})") from None
    if arr.ndim > 1:
        raise ValueError(f"{name}: expected a float or a 1-D array, got {arr.ndim}-D")
    return arr.reshape(-1)


def check_finite(name: str, arr: np.ndarray) -> None:
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}: must be finite (got NaN or inf)")


def check_positive(name: str, arr: np.ndarray) -> None:
    check_finite(name, arr)
    if np.any(arr <= 0.0):
        raise ValueError(f"{name}: must be > 0")


def check_non_negative(name: str, arr: np.ndarray) -> None:
    check_finite(name, arr)
    if np.any(arr < 0.0):
        raise ValueError(f"{name}: must be >= 0")


def check_fraction(name: str, value: float, low: float = 0.0, high: float = 1.0) -> None:
    """A scalar in [low, high) such as a fee."""
    if not (isinstance(value, (int, float, np.floating, np.integer)) and math.isfinite(value)):
        raise ValueError(f"{name}: must be a finite number")
    if not (low <= value < high):
        raise ValueError(f"{name}: must be in [{low}, {high}), got {value}")


def broadcast(names: tuple[str, ...], *arrays: np.ndarray) -> list[np.ndarray]:
    """Broadcast length-1 arrays against the common length; mismatched lengths raise."""
    n = max(a.shape[0] for a in arrays)
    out = []
    for name, a in zip(names, arrays):
        if a.shape[0] == n:
            out.append(a)
        elif a.shape[0] == 1:
            out.append(np.full(n, a[0]))
        else:
            raise ValueError(f"{name}: length {a.shape[0]} does not match length {n} of the other arguments")
    return out


def as_bool_array(name: str, x: Any, n: int) -> np.ndarray:
    """``is_call``-style flags as a uint8 array of length n (a scalar is broadcast)."""
    arr = np.asarray(x)
    if arr.dtype.kind not in "biu":
        raise ValueError(f"{name}: must be bool or an array of bools")
    arr = np.ascontiguousarray(arr.reshape(-1).astype(np.uint8))
    if arr.shape[0] == 1 and n != 1:
        arr = np.full(n, arr[0], dtype=np.uint8)
    if arr.shape[0] != n:
        raise ValueError(f"{name}: length {arr.shape[0]} does not match length {n} of the other arguments")
    return arr
