"""Writing a service's next revision from the difference between its models and its migrations.

``new_revision`` upgrades a scratch SQLite database to the current head, lets Alembic's
autogenerate compare it with the models and writes ``versions/<NNNN>_<slug>.py``. The result is a
draft to review: autogenerate does not see renames, and data migrations are written by hand.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from alembic import command

from services import migrations
from services.migrations import locking, scripts


def new_revision(service: str, message: str) -> Path:
    """Writes the next revision of ``service`` and returns its path."""
    directory = scripts.versions_dir(service)
    directory.mkdir(parents=True, exist_ok=True)
    rev_id = scripts.next_revision_id(service)
    with tempfile.TemporaryDirectory(prefix=f"ml2-{service}-revision-") as scratch:
        url = f"sqlite:///{Path(scratch) / 'scratch.db'}"
        migrations.upgrade(url, service)
        with locking.migration_transaction(url, service) as connection:
            script = command.revision(
                scripts.config(service, connection),
                message=message,
                autogenerate=True,
                rev_id=rev_id,
                version_path=str(directory),
            )
    if script is None or isinstance(script, list):
        raise RuntimeError(f"{service}: Alembic wrote no single revision")
    path = Path(script.path)
    _format(path)
    return path


def _format(path: Path) -> None:
    """Formats the new file with ruff when it is installed (autogenerate writes long lines)."""
    beside = Path(sys.executable).parent / "ruff"
    ruff = str(beside) if beside.exists() else shutil.which("ruff")
    if ruff:
        subprocess.run([ruff, "format", "--quiet", str(path)], check=False)
