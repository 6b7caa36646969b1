"""The store port, where it was first declared: now the application layer's :mod:`beslut.workflow.ports`.

Kept so that ``from beslut.persistence.abc import Reader`` goes on working; new code imports the ports.
"""

from __future__ import annotations

from beslut.workflow.ports import ApiToken, DashboardSession, OverdueParty, Reader, Store, UnitOfWork

__all__ = ["ApiToken", "DashboardSession", "OverdueParty", "Reader", "Store", "UnitOfWork"]
