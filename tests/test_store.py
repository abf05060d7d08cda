"""The store on SQLite and PostgreSQL: schema, case numbers under concurrency, encrypted files."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from store import db, migrate
from cryptography.fernet import Fernet
from click.testing import CliRunner

from intake.cli import main
from store import blobs
from store.blobs import BlobError, BlobStore, Missing, WrongKey, load_keys, new_key
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


@pytest.mark.parametrize("size", [0, 1, 63, 64, 65, 200])
def test_files_of_any_length_come_back_whole_through_the_chunked_format(tmp_path, monkeypatch, size):
    monkeypatch.setattr(blobs, "CHUNK", 64)  # chunks of 64 bytes: every edge of a chunk in a few bytes
    store = BlobStore(tmp_path, [new_key().encode()])
    data = bytes(range(256))[:size] if size <= 256 else b""
    digest = store.put(data)
    on_disk = store._path(digest).read_bytes()
    assert on_disk.startswith(blobs.MAGIC)
    assert len(on_disk) == 32 + size + 16 * max(1, -(-size // 64))  # header, content, one tag per chunk
    assert store.get(digest) == data


def _tamper_truncate_at_chunk_end(raw: bytes) -> bytes:
    return raw[:32 + 2 * (64 + 16)]  # the last chunk gone: what is left still ends on a whole chunk


def _tamper_swap_chunks(raw: bytes) -> bytes:
    first, second = raw[32:32 + 80], raw[32 + 80:32 + 160]
    return raw[:32] + second + first + raw[32 + 160:]


def _tamper_flip_a_bit(raw: bytes) -> bytes:
    return raw[:100] + bytes([raw[100] ^ 1]) + raw[101:]


def test_a_mails_files_are_stored_together_each_once_and_nothing_half_written_is_left(tmp_path, monkeypatch):
    store = BlobStore(tmp_path, [new_key().encode()])
    plan, letter = b"Forskningsplan " * 1000, b"Folgebrev"
    digests = store.put_many([plan, letter, plan])  # the same file attached twice
    assert digests[0] == digests[2] and [store.get(d) for d in digests] == [plan, letter, plan]
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == sorted(set(digests))

    def disk_full(*_):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(blobs.os, "fsync", disk_full)
    with pytest.raises(OSError):
        store.put_many([b"ethics decision", b"variable list"])
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == sorted(set(digests))  # no temporary left


@pytest.mark.parametrize("tamper", [_tamper_truncate_at_chunk_end, _tamper_swap_chunks, _tamper_flip_a_bit])
def test_a_changed_or_cut_off_file_is_refused_not_returned_in_part(tmp_path, monkeypatch, tamper):
    monkeypatch.setattr(blobs, "CHUNK", 64)
    store = BlobStore(tmp_path, [new_key().encode()])
    digest = store.put(b"Etikansokan 2026-01234-01 " * 10)  # 260 bytes: four full chunks and a short one
    path = store._path(digest)
    path.write_bytes(tamper(path.read_bytes()))
    with pytest.raises(BlobError, match="damaged or was changed.*restore it from the backup"):
        store.get(digest)


@pytest.mark.parametrize("content", [b"", b"HD", b"\x00" * 100, b"HDB\x01" + b"\x00" * 10,
                                     b"HDB\x01" + b"k" * 8 + b"s" * 16 + b"\xff\xff\xff\xff" + b"x" * 40])
def test_a_damaged_file_says_restore_it_not_look_for_another_key(tmp_path, content):
    """An operator told 'wrong key' hunts for keys; a damaged file (empty, cut short, a chunk size of 4 GiB that
    would be read before anything is checked) needs the backup."""
    store = BlobStore(tmp_path, [new_key().encode()])
    digest = store.put(b"a stored mail")
    store._path(digest).write_bytes(content)
    with pytest.raises(BlobError, match="damaged or was changed") as raised:
        store.get(digest)
    assert not isinstance(raised.value, WrongKey)


def test_rekey_never_brings_back_a_file_purged_while_it_was_being_re_encrypted(tmp_path, monkeypatch):
    old = new_key().encode()
    digest = BlobStore(tmp_path, [old]).put(b"raw mail of a case closed long ago")
    rekeying, daemon = BlobStore(tmp_path, [new_key().encode(), old]), BlobStore(tmp_path, [old])
    read = rekeying.get

    def purged_meanwhile(name):
        data = read(name)
        assert daemon.delete(name)  # the retention job, in the daemon, at this very moment
        return data

    monkeypatch.setattr(rekeying, "get", purged_meanwhile)
    with pytest.raises(Missing):
        rekeying.rotate(digest)
    assert [p for p in tmp_path.rglob("*") if p.is_file() and p.name != ".lock"] == []  # nothing written back


def test_half_written_files_are_removed_by_purge_and_when_old_but_not_while_being_written(tmp_path):
    import os
    import time

    store = BlobStore(tmp_path, [new_key().encode()])
    digest = store.put(b"an attachment")
    shard = store._path(digest).parent
    interrupted = shard / f"{digest}.x1y2.tmp"  # a rekey killed while writing this file
    interrupted.write_bytes(b"HDB\x01...")
    older = shard / ("b" * 64 + ".tmp4242")  # the name a killed 0.1 daemon left
    older.write_bytes(b"gAAAAA...")
    fresh = shard / ("c" * 64 + ".q.tmp")  # being written right now
    fresh.write_bytes(b"HDB\x01...")
    hour_ago = time.time() - 7200
    os.utime(older, (hour_ago, hour_ago))
    assert store.remove_stale_temporaries() == 1 and not older.exists() and fresh.exists()
    preparing = shard / f"{digest}.z9.tmp"  # intake sealing the same content for a new mail, right now
    preparing.write_bytes(b"HDB\x01...")
    os.utime(interrupted, (hour_ago, hour_ago))
    damaged = store._path(digest).with_suffix(".damaged")
    damaged.write_bytes(b"HDB\x01...")
    assert store.delete(digest)  # purging a file purges its half-written and damaged copies
    assert not interrupted.exists() and not damaged.exists()
    assert preparing.exists()  # not one a live process is about to put in place


def test_a_file_copied_under_another_name_is_refused(tmp_path):
    store = BlobStore(tmp_path, [new_key().encode()])
    real, other = store.put(b"the researcher's real application"), store.put(b"another case's file")
    store._path(other).write_bytes(store._path(real).read_bytes())  # the name says one file, the content another
    with pytest.raises(BlobError, match="damaged or was changed"):
        store.get(other)


def test_files_stored_before_the_chunked_format_are_read_and_rekeyed(tmp_path, make_config):
    config = make_config()
    old = config.store.key_file.read_text().strip().encode()
    store = BlobStore(config.store.files, [old])
    legacy = b"raw mail stored as a Fernet token"
    digest = __import__("hashlib").sha256(legacy).hexdigest()
    store._path(digest).parent.mkdir(parents=True, exist_ok=True)
    store._path(digest).write_bytes(Fernet(old).encrypt(legacy))
    current = store.put(b"raw mail stored in chunks")
    assert store.get(digest) == legacy

    config.store.key_file.write_text(f"{new_key()}\n{old.decode()}\n")  # a new key on top, the old one below
    run = CliRunner().invoke(main, ["--config", str(config.source), "rekey"])
    assert run.exit_code == 0, run.output
    assert "re-encrypted 2 stored file(s)" in run.output and "can leave the key file" in run.output

    config.store.key_file.write_text(config.store.key_file.read_text().splitlines()[0] + "\n")  # old key dropped
    newest = BlobStore(config.store.files, load_keys(config.store.key_file, None))
    assert newest.get(digest) == legacy and newest.get(current) == b"raw mail stored in chunks"
    with pytest.raises(WrongKey):
        store.get(current)
    again = CliRunner().invoke(main, ["--config", str(config.source), "rekey"])
    assert "re-encrypted 0 stored file(s) with the newest key; 2 already were" in again.output
    assert "can leave the key file" not in again.output  # there is no old line left to remove

    BlobStore(config.store.files, [new_key().encode()]).put(b"stored with a key since thrown away")
    lost = CliRunner().invoke(main, ["--config", str(config.source), "rekey"])
    assert lost.exit_code == 1
    assert "1 stored file(s) were encrypted with a key that is not in the key file" in lost.output
    assert "put the old key back" in lost.output


def test_key_file_problems_name_the_key_and_the_fix(tmp_path):
    with pytest.raises(KeyError, match=r"store.key_file: cannot read .*halsodata keygen"):
        load_keys(tmp_path / "missing.key", None)
    bad = tmp_path / "bad.key"
    bad.write_text("not-a-key\n")
    with pytest.raises(KeyError, match="line 1 is not a valid key"):
        load_keys(bad, None)


def test_a_stored_mail_cut_short_is_the_stores_problem_not_a_broken_mail(tmp_path, monkeypatch):
    """The daemon parses a stored mail chunk by chunk. A file cut short shows only at its end, after the parser has
    had most of it: that must stop processing as a store error (the daemon retries once the file is restored from
    the backup), never record the mail as 'cannot be parsed' or process what was left of it."""
    from intake import config as config_mod, daemon, pipeline
    from intake.receive import record
    from tests import factory
    from tests.conftest import write_config

    path = write_config(tmp_path / "halsodata.toml", imap_port=1, smtp_port=1,
                        store_url=f"sqlite:///{tmp_path / 'halsodata.db'}")
    ctx = daemon.open_context(config_mod.load(path, environ={}))
    monkeypatch.setattr(blobs, "CHUNK", 64)
    row = record(ctx.engine, ctx.blobs, account="a", folder="INBOX", uidvalidity=1, uid=1, raw=factory.mail(),
                 max_bytes=ctx.config.limits.max_message_bytes)
    stored = ctx.blobs._path(row.sha256)
    whole = stored.read_bytes()
    assert len(whole) > 32 + 5 * (64 + 16)
    stored.write_bytes(whole[:32 + 5 * (64 + 16)])  # five whole chunks of a longer mail
    with pytest.raises(BlobError, match="damaged"):
        pipeline.process(ctx, row.id)
    with session_scope(ctx.engine) as s:
        assert s.get(InboundMail, row.id).status == "fetched"  # still to do, nothing recorded as its outcome

    stored.write_bytes(whole)  # restored from the backup
    assert pipeline.process(ctx, row.id) == "processed"


def test_a_dead_writers_temporaries_are_found_by_its_tag_not_by_a_process_id_another_host_may_share(tmp_path):
    import os

    mine, other = BlobStore(tmp_path, [new_key().encode()]), BlobStore(tmp_path, [new_key().encode()])
    mine.writer = "prep-3f2a"
    other.writer = str(os.getpid())  # the same number as a process on another host, or the default name
    kept = other.seal_many([b"the other daemon's attachment"])
    mine.seal_many([b"this preparer's attachment", b"another"])
    assert mine.remove_temporaries_of("prep-3f2a") == 2
    assert all(os.path.exists(s.tmp) for s in kept)
