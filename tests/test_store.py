"""The store on SQLite and PostgreSQL: schema, case numbers under concurrency, encrypted files."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from store import db, migrate
from store.blobs import BlobError, BlobStore, load_keys, new_key
from store.db import session_scope
from store.models import Case, InboundMail, utcnow
from store.numbering import format_number, next_seq


@pytest.fixture
def engine(store_url):
    engine = db.make_engine(store_url)
    migrate.upgrade(engine)  # the schema as production gets it: through the migrations
    yield engine
    engine.dispose()


def test_case_numbers_are_consecutive_per_year_and_restart_each_year(engine):
    with session_scope(engine) as s:
        assert [next_seq(s, 2026) for _ in range(3)] == [1, 2, 3]
        assert next_seq(s, 2027) == 1
    assert format_number("HD-{year}-{seq:04}", 2026, 42) == "HD-2026-0042"


def test_rolled_back_transaction_gives_its_number_back(engine):
    with pytest.raises(RuntimeError):
        with session_scope(engine) as s:
            next_seq(s, 2026)
            raise RuntimeError("processing failed")
    with session_scope(engine) as s:
        assert next_seq(s, 2026) == 1


def test_concurrent_writers_never_collide_and_leave_no_gap(engine):
    """Eight writers at once (as two daemons would): every number once, 1..N without gaps."""
    got, errors = [], []

    def worker():
        try:
            for _ in range(5):
                with session_scope(engine) as s:
                    seq = next_seq(s, 2026)
                    s.add(Case(number=format_number("HD-{year}-{seq:04}", 2026, seq), year=2026, seq=seq,
                               researcher="r@x.example"))
                got.append(seq)
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(got) == list(range(1, 41))
    with session_scope(engine) as s:
        assert len(s.exec(select(Case)).all()) == 40


def test_server_identity_of_a_mail_is_unique(engine):
    row = dict(account="a", folder="INBOX", uidvalidity=7, uid=1, sha256="x" * 64, size=1)
    with session_scope(engine) as s:
        s.add(InboundMail(**row))
    with pytest.raises(IntegrityError):
        with session_scope(engine) as s:
            s.add(InboundMail(**row))


def test_timestamps_come_back_aware_in_utc(engine):
    now = utcnow()
    with session_scope(engine) as s:
        s.add(Case(number="HD-2026-0001", year=2026, seq=1, researcher="r@x.example", opened_at=now))
    with session_scope(engine) as s:
        case = s.exec(select(Case)).one()
        assert case.opened_at == now and case.opened_at.utcoffset() == timedelta(0)


def test_unreachable_database_is_reported_with_the_fix():
    engine = db.make_engine("postgresql://nobody@127.0.0.1:1/none")
    with pytest.raises(db.StoreUnavailable, match=r"cannot use the database .*Fix: check \[store\] url"):
        db.check(engine)


def test_blobs_are_encrypted_at_rest_and_survive_key_rotation(tmp_path):
    old = new_key().encode()
    store = BlobStore(tmp_path, [old])
    secret = "Patientlista för KOL-studien".encode()
    digest = store.put(secret)
    on_disk = next(p for p in tmp_path.rglob("*") if p.is_file())
    assert secret not in on_disk.read_bytes()
    assert on_disk.stat().st_mode & 0o077 == 0  # readable by the service only

    rotated = BlobStore(tmp_path, [new_key().encode(), old])
    assert rotated.get(digest) == secret
    rotated.rotate(digest)
    with pytest.raises(BlobError, match="cannot be decrypted"):
        store.get(digest)  # the old key alone no longer opens it
    assert rotated.get(digest) == secret


def test_key_file_problems_name_the_key_and_the_fix(tmp_path):
    with pytest.raises(KeyError, match=r"store.key_file: cannot read .*halsodata keygen"):
        load_keys(tmp_path / "missing.key", None)
    bad = tmp_path / "bad.key"
    bad.write_text("not-a-key\n")
    with pytest.raises(KeyError, match="not a valid key"):
        load_keys(bad, None)
