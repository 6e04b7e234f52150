"""Processes that end with the process that started them, however it ends (`kill -9` too)."""

from __future__ import annotations

import contextlib
import os

__all__ = ["die_with"]

_PR_SET_PDEATHSIG = 1


def die_with(parent: int, signal_number: int) -> None:
    """Have the kernel send this process `signal_number` when `parent` (its parent) dies (Linux;
    elsewhere nothing); exit at once if it has died already."""
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal_number)
    if os.getppid() != parent:   # it died before the request took effect
        raise SystemExit(1)
