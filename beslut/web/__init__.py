"""The coordinators' dashboard: server-rendered pages over the engine, and the machine diagrams.

Mount :func:`dashboard_router` at ``/`` of the FastAPI app; see docs/dashboard.md.
:func:`dashboard_router` is imported on first use (PEP 562), not with the package:
``beslut diagram`` needs only :mod:`beslut.web.diagrams`, which needs no web framework.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from beslut.lazy import names_on_first_use

if TYPE_CHECKING:
    from beslut.web.router import dashboard_router


__getattr__ = names_on_first_use(__name__, {"dashboard_router": "beslut.web.router"})


__all__ = ["dashboard_router"]
