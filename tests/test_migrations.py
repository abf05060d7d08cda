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
    out = run(main, ["--config", str(config.source), "db", "upgrade"])  # again: nothing claimed to be upgraded
    assert out.exit_code == 0 and out.output.strip() == f"database schema already up to date ({migrate.head()}); " \
        "nothing to do"


def test_upgrading_from_the_previous_schema_keeps_the_data(store_url):
    """A database made by the previous release (revision 0001, with cases and attachments) upgrades in place."""
    engine = db.make_engine(store_url)
    migrate.upgrade(engine, "0001")
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO \"case\" (number, year, seq, state, track, researcher, researcher_name, title, "
                          "language, opened_at, updated_at) VALUES ('HD-2026-0007', 2026, 7, 'incomplete', "
                          "'personal_data', 'forskare@example.se', '', 'Studie', 'sv', '2026-11-01 08:00:00', "
                          "'2026-11-02 08:00:00')"))
        conn.execute(text("INSERT INTO inboundmail (account, folder, uidvalidity, uid, sha256, size, fetched_at, "
                          "status, outcome, leave_in_mailbox, \"references\", auto_generated, body_text, pnr_count, "
                          "authentication_results, problems, signatures, from_address, from_name, subject) VALUES "
                          "('a', 'INBOX', 1, 1, 'ab', 10, '2026-11-01 08:00:00', 'processed', '', false, '', false, "
                          "'', 0, '[]', '[]', '[]', 'forskare@example.se', '', 'Ansökan')"))
        conn.execute(text("INSERT INTO attachment (mail_id, filename, content_type, size, sha256, kind, also, "
                          "confidence, evidence, fields, readable, pnr_count) SELECT id, 'plan.pdf', "
                          "'application/pdf', 5, 'cd', 'research_plan', '[]', 0.9, '[]', '{}', true, 0 "
                          "FROM inboundmail"))
    assert migrate.current(engine) == "0001"
    migrate.upgrade(engine)
    assert migrate.current(engine) == migrate.head() != "0001"
    with engine.connect() as conn:
        case = conn.execute(text("SELECT number, state, closed_at, purged_at FROM \"case\"")).one()
        attachment = conn.execute(text("SELECT filename, kind, kind_source FROM attachment")).one()
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    assert tuple(case) == ("HD-2026-0007", "incomplete", None, None)
    assert tuple(attachment) == ("plan.pdf", "research_plan", "product")
    assert diff == []
