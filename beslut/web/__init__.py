"""The coordinators' dashboard: server-rendered pages over the engine, and the machine diagrams.

Mount :func:`dashboard_router` at ``/`` of the FastAPI app; see docs/dashboard.md.
:func:`dashboard_router` is imported on first use (PEP 562), not with the package:
``beslut diagram`` needs only :mod:`beslut.web.diagrams`, which needs no web framework.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from beslut.web.router import dashboard_router


def __getattr__(name: str) -> Any:
    """:func:`dashboard_router`, from its module on first use."""
    if name != "dashboard_router":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return importlib.import_module("beslut.web.router").dashboard_router


__all__ = ["dashboard_router"]
