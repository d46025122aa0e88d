"""Where a database stands in stripe2sf's migrations, read without creating anything (for
`stripe2sf doctor`: a missing SQLite file stays missing, a migration is never run)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from urllib.parse import quote

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, inspect, pool
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from stripe2sf.domain.setup.doctor_database import SchemaState
from stripe2sf.store.db import MIGRATIONS, describe, normalize_url


def known_revisions() -> tuple[str, ...]:
    """This stripe2sf's migrations, oldest first."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    script = ScriptDirectory.from_config(config)
    return tuple(reversed([r.revision for r in script.walk_revisions()]))


def _probe(url: str) -> Engine | str:
    """An engine that never creates the database, or why there is none."""
    parsed = make_url(url)
    if parsed.drivername.startswith("sqlite"):
        if parsed.database in (None, "", ":memory:"):
            return "an in-memory SQLite database keeps nothing between processes"
        path = Path(parsed.database or "").resolve()
        if not path.is_file():
            return f"there is no database at {path}"
        uri = f"file:{quote(str(path))}?mode=ro"  # read-only: never creates the file
        return create_engine(
            "sqlite://", creator=lambda: sqlite3.connect(uri, uri=True), poolclass=pool.NullPool
        )
    return create_engine(
        normalize_url(url), poolclass=pool.NullPool, connect_args={"connect_timeout": 10}
    )


def read_schema_state(url: str) -> SchemaState:
    """The database's migration state; raises the driver's error when its server cannot be
    reached (the caller says why, `stripe2sf.network_failure`)."""
    revisions = known_revisions()
    probe = _probe(url)
    if isinstance(probe, str):
        return SchemaState(probe, revisions=revisions)
    parsed = make_url(url)
    try:
        with probe.connect() as conn:
            if not inspect(conn).has_table("alembic_version"):
                return SchemaState(
                    f"{describe(url)} holds no stripe2sf tables", revisions=revisions
                )
            current = MigrationContext.configure(conn).get_current_heads()
    except OperationalError as exc:
        if "does not exist" in str(exc) and parsed.database and parsed.database in str(exc):
            where = f"{parsed.host or 'localhost'}:{parsed.port or 5432}"
            missing = f"the PostgreSQL server at {where} has no database {parsed.database!r}"
            return SchemaState(missing, revisions=revisions)
        raise
    finally:
        probe.dispose()
    return SchemaState(None, tuple(current), revisions)
