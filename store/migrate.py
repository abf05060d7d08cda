"""Schema migrations with Alembic: upgrade, status, and the start-up check that refuses an out-of-date schema."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import Engine

MIGRATIONS = Path(__file__).parent / "migrations"


class StoreOutdated(Exception):
    """The database schema is older (or newer) than this version of the program."""


def _config(connection=None) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head() -> str:
    return ScriptDirectory.from_config(_config()).get_current_head()


def current(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    with engine.begin() as conn:
        command.upgrade(_config(conn), revision)


def revision(engine: Engine, message: str) -> None:
    """Write a new migration from the difference between the models and the database (developers only)."""
    with engine.begin() as conn:
        command.revision(_config(conn), message=message, autogenerate=True)


def ensure(engine: Engine) -> None:
    """A new, empty database gets the schema; one at another revision stops start-up with the command to run."""
    now, want = current(engine), head()
    if now == want:
        return
    if now is None and not inspect(engine).get_table_names():
        upgrade(engine)
        return
    where = engine.url.render_as_string(hide_password=True)
    raise StoreOutdated(f"the database {where} has schema revision {now or 'none (made without migrations)'}, this "
                        f"version of halsodata needs {want}. Fix: back up the database, then run "
                        "`halsodata db upgrade`.")
