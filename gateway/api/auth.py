"""API authentication: see ``api.access`` (member tokens, the operator's admin token)."""

from __future__ import annotations

from .access import admin as require_admin
from .access import member

__all__ = ["member", "require_admin"]
