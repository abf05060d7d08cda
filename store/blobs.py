"""Encrypted, content-addressed file store for raw mail and attachments (Fernet: AES-128-CBC with HMAC)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class BlobError(Exception):
    """A stored file is missing or cannot be decrypted with the configured key."""


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
    keys = [line.strip().encode() for line in raw.replace(",", "\n").splitlines() if line.strip()]
    for k in keys:
        try:
            Fernet(k)
        except (ValueError, TypeError):
            raise KeyError(f"{source}: not a valid key (expected 44 characters of url-safe base64). Fix: "
                           "generate one with `halsodata keygen`.") from None
    if not keys:
        raise KeyError(f"{source}: no key found. Fix: generate one with `halsodata keygen`.")
    return keys


def new_key() -> str:
    return Fernet.generate_key().decode()


class BlobStore:
    """Files named by the sha256 of their plain content, encrypted with the newest key."""

    def __init__(self, root: Path, keys: list[bytes]):
        self.root = Path(root)
        self._fernet = MultiFernet([Fernet(k) for k in keys])

    def _path(self, digest: str) -> Path:
        return self.root / digest[:2] / digest

    def put(self, data: bytes) -> str:
        """Store durably (written, fsynced and renamed into place) and return the sha256 hex digest."""
        digest = hashlib.sha256(data).hexdigest()
        path = self._path(digest)
        if path.exists():
            return digest
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with open(fd, "wb") as out:
            out.write(self._fernet.encrypt(data))
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
        return digest

    def get(self, digest: str) -> bytes:
        try:
            token = self._path(digest).read_bytes()
        except FileNotFoundError:
            raise BlobError(f"stored file {digest[:12]}… is missing from {self.root}") from None
        try:
            return self._fernet.decrypt(token)
        except InvalidToken:
            raise BlobError(f"stored file {digest[:12]}… cannot be decrypted with the configured key(s); "
                            "if the key was rotated, keep the old key as a second line of the key file") from None

    def delete(self, digest: str) -> bool:
        """Remove one file for good (retention); False if it was not there."""
        try:
            self._path(digest).unlink()
        except FileNotFoundError:
            return False
        return True

    def rotate(self, digest: str) -> None:
        """Re-encrypt one file with the newest key."""
        path = self._path(digest)
        path.write_bytes(self._fernet.rotate(path.read_bytes()))
