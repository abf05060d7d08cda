"""Shared fixtures: a real Dovecot and SMTP server on loopback, and stores on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from intake import config as config_mod
from store.blobs import new_key
from tests.support.dovecot import Dovecot, make_rundir
from tests.support.smtp_sink import SmtpSink

MAILBOX_USER = "intake@halsodata.test"
MAILBOX_PASSWORD = "intake-secret"
FROM_ADDRESS = "halsodata@region.test"
PG_ADMIN_URL = os.environ.get("HALSODATA_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
def _shared() -> Path:
    """The read-only reference folder: $HALSODATA_SHARED, else beside this clone (as CI lays it out), else
    beside the repository this one was cloned from (a scratch clone in /tmp of a work tree)."""
    if os.environ.get("HALSODATA_SHARED"):
        return Path(os.environ["HALSODATA_SHARED"])
    repo = Path(__file__).resolve().parents[1]
    beside = repo.parent / "shared"
    if beside.is_dir():
        return beside
    import subprocess
    origin = subprocess.run(["git", "-C", str(repo), "config", "--get", "remote.origin.url"],
                            capture_output=True, text=True).stdout.strip()
    if origin and Path(origin).is_dir() and (Path(origin).resolve().parent / "shared").is_dir():
        return Path(origin).resolve().parent / "shared"
    return beside


SHARED = _shared()


def pytest_configure(config):
    config.addinivalue_line("markers", "postgres: needs the local PostgreSQL")


@pytest.fixture(scope="session")
def dovecot():
    rundir = make_rundir()
    server = Dovecot(rundir, users={MAILBOX_USER: MAILBOX_PASSWORD})
    server.start()
    yield server
    server.stop()
    shutil.rmtree(rundir, ignore_errors=True)


@pytest.fixture
def mailbox(dovecot):
    """The intake mailbox, emptied (INBOX and every other folder) before the test."""
    with dovecot.imap(MAILBOX_USER, MAILBOX_PASSWORD) as client:
        for flags, _delim, name in client.list_folders():
            if b"\\Noselect" in flags:
                continue
            client.select_folder(name)
            uids = client.search("ALL")
            if uids:
                client.delete_messages(uids)
                client.expunge()
    return dovecot


@pytest.fixture
def smtp_sink():
    sink = SmtpSink()
    sink.start()
    yield sink
    sink.stop()


def _pg_available() -> bool:
    try:
        engine = create_engine(PG_ADMIN_URL)
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
        return True
    except Exception:
        return False


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request, tmp_path):
    """A fresh, empty database: a SQLite file, or a private schema in the local PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'halsodata.db'}"
        return
    if not _pg_available():
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL at {PG_ADMIN_URL} is not reachable; CI must test the store on it")
        pytest.skip("PostgreSQL is not reachable")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    yield f"{PG_ADMIN_URL}?options=-csearch_path%3D{schema}"
    with admin.connect() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path):
    return f"sqlite:///{tmp_path / 'halsodata.db'}"


def write_config(path: Path, *, imap_port: int, smtp_port: int, store_url: str, extra: str = "") -> Path:
    key_file = path.parent / "store.key"
    if not key_file.exists():
        key_file.write_text(new_key() + "\n")
    path.write_text(f"""
[imap]
host = "127.0.0.1"
port = {imap_port}
security = "none"
username = "{MAILBOX_USER}"
password = "{MAILBOX_PASSWORD}"
folder = "INBOX"
processed_folder = "Processed"
idle_timeout = 30
poll_interval = 1
timeout = 15

[smtp]
host = "127.0.0.1"
port = {smtp_port}
security = "none"
from_address = "{FROM_ADDRESS}"
timeout = 15

[store]
url = "{store_url}"
files = "files"
key_file = "store.key"

[cases]
coordinators = ["coordinators@region.test"]
{extra}
""")
    return path


@pytest.fixture
def make_config(tmp_path, dovecot, smtp_sink):
    """Write a config pointing at the test servers; returns a loader for it."""

    def _make(store_url: str | None = None, extra: str = "") -> config_mod.Config:
        url = store_url or f"sqlite:///{tmp_path / 'halsodata.db'}"
        path = write_config(tmp_path / "halsodata.toml", imap_port=dovecot.imap_port, smtp_port=smtp_sink.port,
                            store_url=url, extra=extra)
        return config_mod.load(path, environ={})

    return _make
