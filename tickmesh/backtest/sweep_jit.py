"""The numba decorators the sweep kernels use, typed so mypy keeps each function's signature.

Every kernel is compiled on first use and kept in numba's on-disk cache (``cache=True``), with
numpy's error model (no Python exception checks on float division: every divisor in the
kernels is positive by construction) and never with ``fastmath``: the kernels must reproduce
the event-driven strategies' float arithmetic bit for bit, so no reassociation is allowed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

import numba

F = TypeVar("F", bound=Callable[..., Any])


def jit(fn: F) -> F:
    """A serial kernel. Small ones taking only scalars are inlined by LLVM into their callers;
    one taking an array is a real call, with two atomic reference-count updates per array."""
    return cast(F, numba.njit(cache=True, nogil=True, error_model="numpy")(fn))


def jit_parallel(fn: F) -> F:
    """A kernel whose ``numba.prange`` loops run on numba's thread pool."""
    return cast(F, numba.njit(cache=True, nogil=True, error_model="numpy", parallel=True)(fn))
