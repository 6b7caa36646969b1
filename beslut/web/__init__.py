"""The coordinators' dashboard: server-rendered pages over the engine, and the machine diagrams.

Mount :func:`dashboard_router` at ``/`` of the FastAPI app; see docs/dashboard.md.
"""

from __future__ import annotations

from beslut.web.router import dashboard_router

__all__ = ["dashboard_router"]
