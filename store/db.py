"""Database engines and sessions for SQLite (embedded default) and PostgreSQL."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlmodel import Session, create_engine

from store import models  # noqa: F401  (registers the tables)


class StoreUnavailable(Exception):
    """The database cannot be reached or used."""


def _normalise(url: str) -> str:
    # People write postgresql:// from habit; psycopg 3 is the driver we ship.
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def make_engine(url: str, **kwargs) -> Engine:
    url = _normalise(url)
    if url.startswith("sqlite"):
        # hide_parameters: SQL errors would otherwise print the values (addresses, subjects, bodies).
        engine = create_engine(url, connect_args={"timeout": 30}, hide_parameters=True, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):
            # WAL lets the CLI read while the daemon writes; foreign keys are off by default in SQLite.
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True, hide_parameters=True, **kwargs)


def check(engine: Engine) -> None:
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        raise StoreUnavailable(describe(exc, engine)) from exc


def describe(exc: Exception, engine: Engine) -> str:
    where = engine.url.render_as_string(hide_password=True)
    reason = str(getattr(exc, "orig", exc) or exc).strip().splitlines()[0] if str(exc) else type(exc).__name__
    if isinstance(exc, OperationalError):
        return (f"cannot use the database {where}: {reason}. Fix: check [store] url and that the database "
                "server is running and accepts this user.")
    return f"database error on {where}: {reason}"


@contextlib.contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """One transaction: committed when the block ends, rolled back if it raises."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
