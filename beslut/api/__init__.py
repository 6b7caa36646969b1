"""The HTTP API of `beslut`: a thin FastAPI layer over :class:`beslut.Engine`, with tokens and roles.

:func:`create_app` builds the app (``beslut serve`` runs it with uvicorn);
:func:`current_principal` is the dependency that authenticates a request, for any
router mounted on the app (the dashboard's pages use it too). docs/api.md documents
the endpoints, roles, errors and concurrency.
"""

from __future__ import annotations

from beslut.api.app import create_app
from beslut.api.auth import (
    COOKIE_NAME,
    CurrentPrincipal,
    Principal,
    current_principal,
    principal_for,
    require_role,
)

__all__ = [
    "COOKIE_NAME",
    "CurrentPrincipal",
    "Principal",
    "create_app",
    "current_principal",
    "principal_for",
    "require_role",
]
