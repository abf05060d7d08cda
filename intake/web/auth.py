"""Who is signed in: argon2id password hashes, the signed session cookie with its CSRF token, the proxy header."""

from __future__ import annotations

import hmac
import ipaddress
import secrets
import threading
import time
from collections import defaultdict, deque

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from itsdangerous import BadSignature, URLSafeTimedSerializer

COOKIE = "halsodata_session"
MIN_PASSWORD = 12

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
# Verified against when the user name is unknown, so a wrong name takes as long as a wrong password.
_DUMMY = _hasher.hash(secrets.token_urlsafe(16))


class WeakPassword(ValueError):
    """The password is too short to be worth hashing."""


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise WeakPassword(f"the password must have at least {MIN_PASSWORD} characters")
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """True if the password matches; False for a wrong password, an unknown user (None) or an empty hash."""
    try:
        return _hasher.verify(stored_hash or _DUMMY, password) and bool(stored_hash)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    try:
        return _hasher.check_needs_rehash(stored_hash)
    except InvalidHashError:
        return False


class Sessions:
    """The session lives in a cookie signed with the server's secret: user, CSRF token, language, flash message."""

    def __init__(self, secret: str, max_age_seconds: int):
        self._serializer = URLSafeTimedSerializer(secret, salt="halsodata-web-session")
        self.max_age = max_age_seconds

    def load(self, cookie: str | None) -> dict | None:
        if not cookie:
            return None
        try:
            data = self._serializer.loads(cookie, max_age=self.max_age)
        except BadSignature:  # also an expired one (SignatureExpired is a BadSignature)
            return None
        return data if isinstance(data, dict) and isinstance(data.get("csrf"), str) else None

    def dump(self, session: dict) -> str:
        return self._serializer.dumps(session)

    @staticmethod
    def new(language: str | None = None) -> dict:
        return {"user": None, "csrf": secrets.token_urlsafe(32), "lang": language}


def csrf_ok(session: dict, token: str | None) -> bool:
    return bool(token) and hmac.compare_digest(session.get("csrf", ""), token or "")


class ProxyTrust:
    """Honours the sign-in header only from the configured reverse proxies' addresses."""

    def __init__(self, header: str, trusted: list[str]):
        self.header = header.lower()
        self._networks = [ipaddress.ip_network(n, strict=False) for n in trusted]

    def trusted(self, peer: str | None) -> bool:
        if not peer:
            return False
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:
            return False
        return any(address in net for net in self._networks)

    def user(self, peer: str | None, headers) -> str | None:
        """The user name the proxy vouches for, or None when the request did not come through it."""
        if not self.trusted(peer):
            return None
        name = (headers.get(self.header) or "").strip()
        return name[:100] or None


class Throttle:
    """Refuses sign-in for a user name after too many failures in a window (guessing, not forgetting)."""

    def __init__(self, limit: int = 5, window_seconds: int = 600):
        self.limit, self.window = limit, window_seconds
        self._failures: dict[str, deque] = defaultdict(deque)
        self._lock = threading.Lock()

    def _recent(self, key: str) -> deque:
        q = self._failures[key]
        cutoff = time.monotonic() - self.window
        while q and q[0] < cutoff:
            q.popleft()
        return q

    def blocked(self, key: str) -> bool:
        with self._lock:
            return len(self._recent(key.lower())) >= self.limit

    def failed(self, key: str) -> None:
        with self._lock:
            self._recent(key.lower()).append(time.monotonic())

    def succeeded(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key.lower(), None)
