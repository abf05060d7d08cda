"""Schema migrations on SQLite and PostgreSQL: from an empty database, and refusing an out-of-date schema."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from click.testing import CliRunner
from sqlalchemy import text
from sqlmodel import SQLModel

from intake import daemon
from intake.cli import main
from intake.config import ConfigError
from store import db, migrate


def test_migrations_from_an_empty_database_give_exactly_the_models(store_url):
    engine = db.make_engine(store_url)
    migrate.upgrade(engine)
    assert migrate.current(engine) == migrate.head()
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    assert diff == []  # a model changed without a migration fails here


def test_the_first_start_creates_the_schema_and_an_outdated_one_is_refused(make_config, store_url):
    config = make_config(store_url)
    ctx = daemon.open_context(config)  # empty database: the schema is created
    assert migrate.current(ctx.engine) == migrate.head()
    with ctx.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0000_older'"))
    try:
        daemon.open_context(config)
        raise AssertionError("an out-of-date schema was accepted")
    except ConfigError as exc:
        assert "halsodata db upgrade" in str(exc) and "0000_older" in str(exc)


def test_db_commands(make_config):
    config = make_config()
    run = CliRunner().invoke
    out = run(main, ["--config", str(config.source), "db", "status"])
    assert out.exit_code == 0 and "database revision: none" in out.output and "out of date" in out.output
    out = run(main, ["--config", str(config.source), "db", "upgrade"])
    assert out.exit_code == 0 and f"from empty to {migrate.head()}" in out.output
    out = run(main, ["--config", str(config.source), "db", "status"])
    assert "up to date" in out.output
