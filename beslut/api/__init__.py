"""The HTTP API of `beslut`: a thin FastAPI layer over :class:`beslut.Engine`, with tokens and roles.

:func:`create_app` builds the app (``beslut serve`` runs it with uvicorn);
:func:`current_principal` is the dependency that authenticates a request, for any
router mounted on the app (the dashboard's pages use it too). docs/api.md documents
the endpoints, roles, errors and concurrency.

The names below are imported when first used (PEP 562), not with the package: the
command line reads ``beslut.api.tokens`` and ``beslut.api.views``, which need no web
framework, and importing FastAPI for them made every ``beslut`` command start slowly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from beslut.lazy import names_on_first_use

if TYPE_CHECKING:
    from beslut.api.app import create_app
    from beslut.api.auth import (
        COOKIE_NAME,
        CurrentPrincipal,
        Principal,
        current_principal,
        principal_for,
        require_role,
    )

_HOMES = {
    "create_app": "beslut.api.app",
    "COOKIE_NAME": "beslut.api.auth",
    "CurrentPrincipal": "beslut.api.auth",
    "Principal": "beslut.api.auth",
    "current_principal": "beslut.api.auth",
    "principal_for": "beslut.api.auth",
    "require_role": "beslut.api.auth",
}


__getattr__ = names_on_first_use(__name__, _HOMES)


__all__ = [
    "COOKIE_NAME",
    "CurrentPrincipal",
    "Principal",
    "create_app",
    "current_principal",
    "principal_for",
    "require_role",
]
