"""Stub of kernels.pricing (Black-Scholes and everlasting options; prices USD, times in years)."""

import numpy as np
import numpy.typing as npt

FloatOrArray = float | npt.NDArray[np.float64]
ArrayLike = float | npt.ArrayLike
BoolLike = bool | npt.ArrayLike

def payoff(S: ArrayLike, K: ArrayLike, is_call: BoolLike) -> FloatOrArray: ...
def bs_price(
    S: ArrayLike, K: ArrayLike, sigma: ArrayLike, T: ArrayLike, is_call: BoolLike,
    r: ArrayLike = 0.0,
) -> FloatOrArray: ...
def bs_delta(
    S: ArrayLike, K: ArrayLike, sigma: ArrayLike, T: ArrayLike, is_call: BoolLike,
    r: ArrayLike = 0.0,
) -> FloatOrArray: ...
def everlasting_price(
    S: ArrayLike, K: ArrayLike, sigma: ArrayLike, funding_period: ArrayLike, is_call: BoolLike
) -> FloatOrArray: ...
def everlasting_delta(
    S: ArrayLike, K: ArrayLike, sigma: ArrayLike, funding_period: ArrayLike, is_call: BoolLike
) -> FloatOrArray: ...
def everlasting_price_into(
    S: npt.NDArray[np.float64], K: npt.NDArray[np.float64],
    sigma: float | npt.NDArray[np.float64], funding_period: float,
    is_call: npt.NDArray[np.uint8], out: npt.NDArray[np.float64],
) -> None: ...
def everlasting_delta_into(
    S: npt.NDArray[np.float64], K: npt.NDArray[np.float64],
    sigma: float | npt.NDArray[np.float64], funding_period: float,
    is_call: npt.NDArray[np.uint8], out: npt.NDArray[np.float64],
) -> None: ...
def stress_marks_into(
    S: npt.NDArray[np.float64], K: npt.NDArray[np.float64],
    sigma: float | npt.NDArray[np.float64], funding_period: float,
    is_call: npt.NDArray[np.uint8], moves: npt.NDArray[np.float64],
    out: npt.NDArray[np.float64],
) -> None: ...
