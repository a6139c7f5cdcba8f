"""NumPy's float64 exp loop, called from compiled code, must be np.exp bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from themis_env.sim import kernel as K
from themis_env.sim.numpy_loops import EXP_LOOP


@pytest.mark.skipif(not EXP_LOOP, reason="NumPy's exp loop was not found on this NumPy")
def test_exp_inplace_is_numpy_exp():
    x = np.random.default_rng(3).standard_normal(100_003) * 20.0
    x[:5] = (0.0, -0.0, -800.0, 800.0, np.nan)
    y = x.copy()
    K.exp_inplace(EXP_LOOP, y)
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(y.view(np.int64), np.exp(x).view(np.int64))
    strided = x[::3].copy()
    view = x.copy()[::3]  # a strided view is computed in place too
    K.exp_inplace(EXP_LOOP, view)
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(view, np.exp(strided))
