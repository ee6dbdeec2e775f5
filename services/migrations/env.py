"""Alembic's environment, shared by every service.

Alembic runs this file for every command. ``services.migrations`` always passes the service name
and an open connection in a transaction it owns (``config.attributes``), so this file never
creates an engine and never commits: the caller holds the lock and decides.
"""

from __future__ import annotations

from alembic import context

from services.migrations import environment

environment.run_migrations(context.config)
