"""Engines: SQLite in WAL mode (one process) or PostgreSQL (several workers), and migrations."""

from __future__ import annotations

import fcntl
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from sqlalchemy import Engine, create_engine, event, inspect, pool, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import OperationalError

if TYPE_CHECKING:  # Alembic is imported when migrating: commands that only read skip it
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"


def normalize_url(url: str) -> str:
    """`postgresql://` means psycopg 3 here; SQLite paths get their folder created."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.drivername.startswith("sqlite") and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database or "").parent.mkdir(parents=True, exist_ok=True)
    return parsed.render_as_string(hide_password=False)


def describe(url: str) -> str:
    """The URL as shown to people: the password hidden, a SQLite file as its absolute path
    (which folder a command ran in decides which file a relative path names)."""
    parsed = make_url(url)
    if parsed.drivername.startswith("sqlite") and parsed.database not in (None, "", ":memory:"):
        return f"sqlite:///{Path(parsed.database or '').resolve()}"
    return parsed.render_as_string(hide_password=True)


def missing_database(url: str) -> str | None:
    """Why `url` names no existing stripe2sf database (a missing SQLite file, a PostgreSQL
    database that does not exist, or one without stripe2sf's tables); None when it does, or
    when the server cannot be reached (opening it reports that). Creates nothing."""
    parsed = make_url(url)
    if parsed.drivername.startswith("sqlite"):
        if parsed.database in (None, "", ":memory:"):
            return None
        path = Path(parsed.database or "").resolve()
        if not path.is_file():
            return f"there is no database at {path}"
        uri = f"file:{quote(str(path))}?mode=ro"  # read-only: never creates the file
        probe = create_engine(
            "sqlite://",
            creator=lambda: sqlite3.connect(uri, uri=True),
            poolclass=pool.NullPool,
        )
    else:
        probe = create_engine(normalize_url(url), poolclass=pool.NullPool)
    try:
        with probe.connect() as conn:
            if inspect(conn).has_table("alembic_version"):
                return None
    except OperationalError as exc:
        if "does not exist" in str(exc):
            where = f"{parsed.host or 'localhost'}:{parsed.port or 5432}"
            return f"the PostgreSQL server at {where} has no database {parsed.database!r}"
        return None
    finally:
        probe.dispose()
    return f"{describe(url)} holds no stripe2sf tables"


def make_engine(
    url: str,
    *,
    synchronous: str = "FULL",
    pool_size: int = 10,
    max_overflow: int = 10,
    **kwargs: Any,
) -> Engine:
    """An engine with the pragmas and pool our workload needs.

    `pool_size` / `max_overflow`: connections kept / opened beyond them, for as many threads
    as use the engine at once (`domain.batch.pools`; an in-memory SQLite has one connection).

    `synchronous`: FULL makes every commit survive a power cut (webhook intake); NORMAL (SQLite
    WAL; on PostgreSQL `synchronous_commit = off`) survives a crash of the process but may lose
    the last commits on power loss, which for the worker's bookkeeping only means an event is
    applied once more, through idempotent upserts.
    """
    url = normalize_url(url)
    if make_url(url).database not in (None, "", ":memory:"):
        kwargs.setdefault("pool_size", pool_size)
        kwargs.setdefault("max_overflow", max_overflow)
    if url.startswith("sqlite"):
        engine = create_engine(
            url, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs
        )

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            # Let SQLAlchemy drive transactions; WAL lets readers run beside the writer.
            dbapi_connection.isolation_level = None
            cur = dbapi_connection.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA synchronous={synchronous}")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Any) -> None:
            # Take the write lock up front so a read-then-write never fails to upgrade.
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    engine = create_engine(url, pool_pre_ping=True, **kwargs)
    if synchronous != "FULL":

        @event.listens_for(engine, "connect")
        def _relaxed_commit(dbapi_connection: Any, _record: Any) -> None:
            # PostgreSQL's counterpart of SQLite's NORMAL: commits return before the WAL flush.
            with dbapi_connection.cursor() as cur:
                cur.execute("SET synchronous_commit TO off")
            dbapi_connection.commit()

    return engine


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", normalize_url(url).replace("%", "%%"))
    return cfg


# Any constant; the same for every stripe2sf process on a database ("s2sf" in ASCII).
_MIGRATION_LOCK_KEY = 0x73327366


def upgrade(url: str) -> None:
    """Apply every migration (idempotent); run at start-up and by `stripe2sf db upgrade`.

    `serve` and `worker` processes started together on a new database would otherwise race to
    create the same tables; they take turns on a lock (PostgreSQL: an advisory lock; SQLite:
    a lock file beside the database), and the later ones find nothing left to do.
    """
    from alembic import command

    with _migration_lock(normalize_url(url)):
        command.upgrade(alembic_config(url), "head")


@contextmanager
def _migration_lock(url: str) -> Iterator[None]:
    parsed = make_url(url)
    if parsed.drivername.startswith("postgresql"):
        engine = create_engine(url, poolclass=pool.NullPool)
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _MIGRATION_LOCK_KEY})
                try:
                    yield
                finally:
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _MIGRATION_LOCK_KEY})
        finally:
            engine.dispose()
    elif parsed.drivername.startswith("sqlite") and parsed.database not in (None, "", ":memory:"):
        with open(f"{parsed.database}.migrate-lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
    else:
        yield


def ping(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))


def dialect_insert(conn: Connection) -> Any:
    """INSERT with ON CONFLICT support for the connection's dialect."""
    return postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
