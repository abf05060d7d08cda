"""Encrypted, content-addressed file store for raw mail and attachments.

Files are written in chunks of 1 MiB, each sealed with AES-256-GCM, so storing or reading a 40 MB mail holds
one chunk of ciphertext at a time rather than several copies of the whole mail. The layout of a stored file:

    header   b"HDB\x01" | key id (8 bytes) | salt (16 bytes) | chunk size (4 bytes, big-endian)
    chunks   AES-256-GCM(chunk) | tag (16 bytes), for every chunk of the content; the last one may be short or
             empty and is always there

The file's key is HKDF-SHA256 of the configured key with the file's random salt. Chunk i is sealed with nonce
i (8 bytes) | 1 if it is the last chunk else 0 (4 bytes), and with the header and the file's name (the sha256
of its content) as associated data: chunks cannot be reordered, dropped, cut off at the end, or moved to
another file without the decryption failing. Files written before this format (Fernet tokens) are still read.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import hmac
import os
import struct
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MAGIC = b"HDB\x01"
CHUNK = 1024 * 1024
_HEADER = struct.Struct(">4s8s16sI")
_TAG = 16
_MAX_CHUNK = 64 * 1024 * 1024  # the chunk size is read before anything is authenticated: a damaged one is refused
_FERNET_PREFIX = b"gAAAAA"  # every Fernet token starts so (version byte 0x80 and a timestamp's high bytes)
_TEMP_SUFFIX = ".tmp"
STALE_AFTER = 3600.0  # seconds after which a half-written file is taken for a killed process's


@dataclass(frozen=True)
class Sealed:
    """A file encrypted and fsynced under a temporary name beside its place (`tmp`), or None when the store has
    it already."""

    digest: str
    size: int
    tmp: str | None


class BlobError(Exception):
    """A stored file is missing, damaged or cannot be decrypted with the configured key."""


class WrongKey(BlobError):
    """None of the configured keys is the one a stored file was encrypted with."""


class Missing(BlobError):
    """The stored file is not there (purged, or lost)."""


def load_keys(key_file: Path | None, key_env: str | None) -> list[bytes]:
    """Keys, newest first: one per line, so a new key can be put on top while old files are still readable."""
    if key_file is not None:
        try:
            raw = key_file.read_text(encoding="ascii")
        except OSError as exc:
            raise KeyError(f"store.key_file: cannot read {key_file} ({exc.strerror}). Fix: create it with "
                           f"`halsodata keygen --out {key_file}`.") from None
        source = "store.key_file"
    else:
        raw = os.environ.get(key_env or "", "")
        if not raw:
            raise KeyError(f"store.key_env: the environment variable {key_env} is empty or not set. Fix: "
                           "export it with the output of `halsodata keygen`.")
        source = "store.key_env"
    lines = [line.strip() for line in raw.replace(",", "\n").splitlines()]
    keys = [line.encode() for line in lines if line]
    for number, line in enumerate(lines, start=1):
        if not line:
            continue
        try:
            Fernet(line.encode())
        except (ValueError, TypeError):
            raise KeyError(f"{source}: line {number} is not a valid key (expected 44 characters of url-safe base64; "
                           "comments are not allowed). Fix: one key per line, each from `halsodata keygen`.") from None
    if not keys:
        raise KeyError(f"{source}: no key found. Fix: generate one with `halsodata keygen`.")
    return keys


def new_key() -> str:
    return Fernet.generate_key().decode()


def _key_id(key: bytes) -> bytes:
    """Names a key in a file's header without giving anything of it away."""
    return hmac.new(key, b"halsodata blob key id", hashlib.sha256).digest()[:8]


def _file_key(key: bytes, salt: bytes) -> AESGCM:
    return AESGCM(HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=b"halsodata blob v1").derive(key))


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _nonce(index: int, last: bool) -> bytes:
    return struct.pack(">QI", index, 1 if last else 0)


class BlobStore:
    """Files named by the sha256 of their plain content, encrypted with the newest key."""

    def __init__(self, root: Path, keys: list[bytes]):
        self.root = Path(root)
        self._fernet = MultiFernet([Fernet(k) for k in keys])  # reads files stored before the chunked format
        self._keys = {_key_id(raw): raw for raw in (base64.urlsafe_b64decode(k) for k in reversed(keys))}
        self._newest = base64.urlsafe_b64decode(keys[0])
        self._pool: ThreadPoolExecutor | None = None
        self._pool_pid = 0
        self.writer: str | None = None  # names this process's temporaries (default: its process id)

    @property
    def key_count(self) -> int:
        """How many keys the store was given: more than one while old files may still need an older key."""
        return len(self._keys)

    def _path(self, digest: str) -> Path:
        return self.root / digest[:2] / digest

    def put(self, data: bytes) -> str:
        """Store durably (written, fsynced and renamed into place) and return the sha256 hex digest."""
        return self.put_many([data])[0]

    def put_many(self, datas: list[bytes]) -> list[str]:
        """Store several files durably; their sha256 hex digests, in order."""
        sealed = self.seal_many(datas)
        self.commit(sealed)
        return [s.digest for s in sealed]

    def seal_many(self, datas: list[bytes], skip_existing: bool = True) -> list[Sealed]:
        """Encrypt and write several files beside their final places and fsync them, without putting them in
        place: `commit` does that (a rename each), `discard` throws them away. The expensive part of storing,
        for a process that does not decide whether the files are kept (intake's preparer). The files are
        written first and then fsynced all at once: the file system commits them together, where one after the
        other each would wait for its own commit (a mail's seven attachments on the build machine: 1.7 ms
        instead of 3.3 ms when the disk is quiet, 2 ms instead of 16 ms when other processes write too).

        With `skip_existing`, content already in place is not written again (its Sealed has no temporary). A caller
        that commits later passes False: retention may delete the file in place before that commit, and the commit
        then puts this copy back."""
        out, written = [], []
        try:
            for data in datas:
                digest = hashlib.sha256(data).hexdigest()
                tmp = None
                if digest not in written and not (skip_existing and self._path(digest).exists()):
                    tmp = str(self._seal(digest, data))
                    written.append(digest)
                out.append(Sealed(digest=digest, size=len(data), tmp=tmp))
            self._all(_fsync_path, [Path(s.tmp) for s in out if s.tmp])
        except BaseException:
            self.discard(out)
            raise
        return out

    def commit(self, sealed: list[Sealed]) -> None:
        """Put sealed files in place, durably (rename, then fsync of the directories). A file another mail put in
        place meanwhile has the same content: it is replaced by this copy."""
        moved = set()
        try:
            for s in sealed:
                if s.tmp is None:
                    continue
                os.replace(s.tmp, self._path(s.digest))
                moved.add(self._path(s.digest).parent)
        except BaseException:
            self.discard(sealed)
            raise
        self._all(_fsync_path, sorted(moved))

    @staticmethod
    def discard(sealed: list[Sealed]) -> None:
        """Remove the temporaries of sealed files that are not to be kept; never raises."""
        for s in sealed:
            if s.tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(s.tmp)

    def _all(self, fn, args: list) -> None:
        if len(args) <= 1:
            for a in args:
                fn(a)
            return
        if self._pool is None or self._pool_pid != os.getpid():  # a forked child has the object, not the threads
            self._pool, self._pool_pid = ThreadPoolExecutor(max_workers=8, thread_name_prefix="blob-fsync"), os.getpid()
        list(self._pool.map(fn, args))

    def _seal(self, digest: str, data: bytes) -> Path:
        """Write the file encrypted beside its final place (not yet durable); the temporary path."""
        path = self._path(digest)
        if not path.parent.is_dir():
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            _fsync_path(self.root)  # the new shard directory itself must survive a power cut
        # mode 0600; named with the writer's tag, so what a killed process was writing can be found at once
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f"{digest}.{self.writer or os.getpid()}.",
                                    suffix=_TEMP_SUFFIX)
        tmp = Path(name)
        salt = os.urandom(16)
        header = _HEADER.pack(MAGIC, _key_id(self._newest), salt, CHUNK)
        aad, sealer, view = header + digest.encode(), _file_key(self._newest, salt), memoryview(data)
        try:
            with open(fd, "wb") as out:
                out.write(header)
                count = max(1, -(-len(view) // CHUNK))
                for index in range(count):
                    out.write(sealer.encrypt(_nonce(index, index == count - 1),
                                             view[index * CHUNK:(index + 1) * CHUNK], aad))
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return tmp

    def get(self, digest: str) -> bytes:
        """The whole content of a stored file."""
        return b"".join(self.read_chunks(digest))

    def read_chunks(self, digest: str) -> Iterator[bytes]:
        """The content of a stored file chunk by chunk, each one authenticated before it is given out, so a large
        mail can be parsed without ever being held whole. A missing file or a wrong key raises here; a file
        damaged or cut short raises BlobError when its chunks are read."""
        try:
            handle = open(self._path(digest), "rb")
        except FileNotFoundError:
            raise Missing(f"stored file {digest[:12]}… is missing from {self.root}") from None
        head = handle.read(_HEADER.size)
        if not head.startswith(MAGIC):
            with handle:
                if not head.startswith(_FERNET_PREFIX):
                    raise self._damaged(digest)
                return iter([self._fernet_file(digest, head + handle.read())])
        try:
            _, key_id, salt, size = _HEADER.unpack(head)
            if not 0 < size <= _MAX_CHUNK:
                raise ValueError(size)
        except (struct.error, ValueError):
            handle.close()
            raise self._damaged(digest) from None
        key = self._keys.get(key_id)
        if key is None:
            handle.close()
            raise self._wrong_key(digest)
        return self._chunks(digest, head, _file_key(key, salt), size, handle)

    def _chunks(self, digest: str, head: bytes, opener: AESGCM, size: int, handle) -> Iterator[bytes]:
        aad = head + digest.encode()
        with handle:
            block, index = handle.read(size + _TAG), 0
            while True:
                following = handle.read(size + _TAG)
                try:
                    plain = opener.decrypt(_nonce(index, not following), block, aad)
                except (InvalidTag, ValueError):
                    raise self._damaged(digest) from None
                yield plain
                if not following:
                    return
                block, index = following, index + 1

    @staticmethod
    def _damaged(digest: str) -> BlobError:
        return BlobError(f"stored file {digest[:12]}… is damaged or was changed: it does not decrypt. Fix: restore it "
                         "from the backup")

    def _fernet_file(self, digest: str, token: bytes) -> bytes:
        try:
            return self._fernet.decrypt(token)
        except InvalidToken:
            raise self._wrong_key(digest) from None

    @staticmethod
    def _wrong_key(digest: str) -> WrongKey:
        return WrongKey(f"stored file {digest[:12]}… cannot be decrypted with the configured key(s); "
                         "if the key was rotated, keep the old key as a second line of the key file")

    def digests(self):
        """The names of every stored file."""
        for path in sorted(self.root.glob("[0-9a-f][0-9a-f]/*")):
            if len(path.name) == 64 and all(c in "0123456789abcdef" for c in path.name):
                yield path.name

    @contextlib.contextmanager
    def locked(self):
        """Purging, re-encrypting and putting a mail's files in place take turns, also between processes: a file
        purged while `rekey` had it open must not be written back, and a file put in place for a mail whose
        transaction has not committed yet must not be purged as unreferenced. Not re-entrant."""
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def delete(self, digest: str) -> bool:
        """Remove one file for good (retention), with its damaged copy and the half-written copies a killed process
        left; False if it was not there. A copy written within STALE_AFTER seconds is left to the process writing
        it: intake may be about to put the same content in place for a new mail, and the sweep removes it if not."""
        return self.delete_unless([digest], keep=lambda _digest: False) == 1

    def delete_unless(self, digests: Iterable[str], keep: Callable[[str], bool]) -> int:
        """Delete each file `keep` says no to, asking it under the lock that intake holds from putting a mail's
        files in place until its transaction commits: a reference being written is seen. How many were deleted."""
        deleted = 0
        with self.locked():
            for digest in digests:
                if not keep(digest) and self._delete(digest):
                    deleted += 1
        return deleted

    def _delete(self, digest: str) -> bool:
        cutoff = time.time() - STALE_AFTER
        for leftover in self._path(digest).parent.glob(f"{digest}.*"):
            with contextlib.suppress(FileNotFoundError):
                if _TEMP_SUFFIX not in leftover.name or leftover.stat().st_mtime < cutoff:
                    leftover.unlink()
        try:
            self._path(digest).unlink()
        except FileNotFoundError:
            return False
        return True

    def quarantine(self, digest: str) -> bool:
        """Move a damaged file aside (kept as <digest>.damaged), so the same content can be stored afresh."""
        with self.locked():
            try:
                os.replace(self._path(digest), self._path(digest).with_suffix(".damaged"))
            except FileNotFoundError:
                return False
            return True

    def rotate(self, digest: str) -> bool:
        """Re-encrypt one file with the newest key, in the current format; False if it already was. Raises Missing
        when the file is gone (purged meanwhile); never writes back a file purged while it was being read."""
        path = self._path(digest)
        try:
            with open(path, "rb") as handle:
                head, before = handle.read(_HEADER.size), os.fstat(handle.fileno()).st_ino
        except FileNotFoundError:
            raise Missing(f"stored file {digest[:12]}… is missing from {self.root}") from None
        if head.startswith(MAGIC) and head[4:12] == _key_id(self._newest):
            return False
        data = self.get(digest)
        if hashlib.sha256(data).hexdigest() != digest:
            raise BlobError(f"stored file {digest[:12]}… does not match its name: it was changed or damaged. Fix: "
                            "restore it from the backup")
        tmp = self._seal(digest, data)
        try:
            _fsync_path(tmp)
            with self.locked():
                try:
                    still = os.stat(path).st_ino == before
                except FileNotFoundError:
                    still = False
                if not still:
                    raise Missing(f"stored file {digest[:12]}… was purged or replaced while it was re-encrypted")
                os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        _fsync_path(path.parent)
        return True

    def remove_temporaries_of(self, writer: str, keep: set[str] = frozenset()) -> int:
        """Delete the half-written and sealed files the ended process that wrote as `writer` left, except those in
        `keep`; how many. The tag is random: a process id may belong to another host's daemon on the same store."""
        removed = 0
        for tmp in self.root.glob(f"[0-9a-f][0-9a-f]/*.{writer}.*{_TEMP_SUFFIX}"):
            if str(tmp) not in keep:
                with contextlib.suppress(FileNotFoundError):
                    tmp.unlink()
                    removed += 1
        return removed

    def remove_stale_temporaries(self, older_than: float = STALE_AFTER) -> int:
        """Delete half-written files a killed process left behind (they hold encrypted pieces of mail); how many."""
        removed, cutoff = 0, time.time() - older_than
        for tmp in self.root.glob(f"[0-9a-f][0-9a-f]/*{_TEMP_SUFFIX}*"):
            try:
                if tmp.stat().st_mtime < cutoff:
                    tmp.unlink()
                    removed += 1
            except FileNotFoundError:
                continue
        return removed
