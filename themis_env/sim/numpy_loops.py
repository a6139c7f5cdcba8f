"""The address of NumPy's own float64 ``exp`` loop, so compiled code can compute exactly ``np.exp``.

``np.exp`` on float64 may run a SIMD routine (AVX-512 builds) whose last bit differs from the C
library's ``exp``, which numba calls: a cold start drawn in the kernel through ``math.exp``
would differ from one drawn in NumPy. The kernel therefore calls the very loop NumPy's
``exp`` dispatches to (:func:`themis_env.sim.kernel.exp_inplace`). Its address is read from
the ufunc object's ``functions`` and ``types`` tables (``PyUFuncObject`` in NumPy's public
header ``numpy/ufuncobject.h``) and accepted only if the loop reproduces ``np.exp`` bit for
bit on a test vector; otherwise :data:`EXP_LOOP` is 0 and the simulator draws cold starts in
NumPy, as it always can.
"""

from __future__ import annotations

import ctypes

import numpy as np

__all__ = ["EXP_LOOP"]

# PyUFuncGenericFunction: void loop(char **args, npy_intp const *dimensions,
#                                   npy_intp const *steps, void *data)
_LOOP = ctypes.CFUNCTYPE(
    None,
    ctypes.POINTER(ctypes.c_void_p),
    ctypes.POINTER(ctypes.c_ssize_t),
    ctypes.POINTER(ctypes.c_ssize_t),
    ctypes.c_void_p,
)


def _float64_loop(ufunc: np.ufunc) -> int:
    """The address of ``ufunc``'s float64 -> float64 inner loop (0 if not found)."""
    addr = id(ufunc)
    word = ctypes.sizeof(ctypes.c_void_p)
    head = 2 * word  # PyObject_HEAD
    nin, nout, nargs = (ctypes.c_int * 3).from_address(addr + head)
    if (nin, nout, nargs) != (1, 1, 2) or nargs != ufunc.nargs:
        return 0
    # After nin, nout, nargs, identity: functions, data, ntypes (and reserved1), name, types.
    tables = head + 4 * ctypes.sizeof(ctypes.c_int)
    functions = ctypes.c_void_p.from_address(addr + tables).value
    ntypes = ctypes.c_int.from_address(addr + tables + 2 * word).value
    types = ctypes.c_void_p.from_address(addr + tables + 4 * word).value
    if not functions or not types or ntypes != ufunc.ntypes:
        return 0
    codes = ctypes.string_at(types, ntypes * nargs)
    double = np.dtype(np.float64).num
    for i in range(ntypes):
        if codes[2 * i] == double and codes[2 * i + 1] == double:
            return ctypes.c_void_p.from_address(functions + i * word).value or 0
    return 0


def _exact_exp_loop() -> int:
    """The float64 loop of ``np.exp`` if it reproduces ``np.exp`` on a test vector, else 0."""
    try:
        address = _float64_loop(np.exp)
    except (ValueError, OSError, ctypes.ArgumentError):
        return 0
    if not address:
        return 0
    x = np.random.default_rng(0).standard_normal(4099) * 8.0
    x[:6] = (0.0, -0.0, 1.0, -745.2, 709.0, 1e-300)
    y = np.empty_like(x)
    argv = (ctypes.c_void_p * 2)(x.ctypes.data, y.ctypes.data)
    dims = (ctypes.c_ssize_t * 1)(x.size)
    steps = (ctypes.c_ssize_t * 2)(8, 8)
    _LOOP(address)(argv, dims, steps, None)
    return address if np.array_equal(y.view(np.int64), np.exp(x).view(np.int64)) else 0


EXP_LOOP: int = _exact_exp_loop()
"""Address of NumPy's float64 ``exp`` loop, or 0 when it could not be found and checked."""
