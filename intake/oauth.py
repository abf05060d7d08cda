"""OAuth2 access tokens for XOAUTH2 sign-in to IMAP and SMTP.

The rest of the program sees only :class:`TokenSource` (``token() -> str``, ``invalidate()``).
:class:`RefreshingTokenSource` keeps one token and fetches a new one ``refresh_before`` seconds before it
expires (or after the server refused it); where tokens come from is a plain function, so the refresh logic
is tested with a fake clock and fetcher. :func:`msal_fetcher` is the thin Microsoft part: MSAL's
client-credentials flow (an app registration with a client secret, allowed to use the shared mailbox).
"""

from __future__ import annotations

import base64
import logging
import threading
import time
from typing import Callable, Protocol

from intake.config import ConfigError, OAuthConfig

log = logging.getLogger("halsodata.oauth")

# (access token, seconds until it expires)
Fetcher = Callable[[], tuple[str, float]]


class OAuthError(Exception):
    """No token could be had; the text says why and which [oauth] key to check."""


class TokenSource(Protocol):
    def token(self) -> str:
        """A currently valid access token."""

    def invalidate(self) -> None:
        """Forget the current token (the server refused it); the next token() fetches a new one."""


class StaticTokenSource:
    """Always the same token: for tests, or a token managed outside halsodata."""

    def __init__(self, token: str):
        self._token = token

    def token(self) -> str:
        return self._token

    def invalidate(self) -> None:
        pass


class RefreshingTokenSource:
    """Caches one token and renews it `refresh_before` seconds before expiry; safe to share between threads."""

    def __init__(self, fetch: Fetcher, refresh_before: float = 300, clock: Callable[[], float] = time.monotonic):
        self._fetch = fetch
        self._refresh_before = refresh_before
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._renew_at = 0.0

    def token(self) -> str:
        with self._lock:
            now = self._clock()
            if self._token is None or now >= self._renew_at:
                started = now
                token, expires_in = self._fetch()
                if not token:
                    raise OAuthError("the token endpoint returned an empty access token")
                # Counted from before the request, so a slow answer cannot make us keep a token too long.
                # A short-lived token is renewed halfway through its life rather than on every call.
                margin = min(self._refresh_before, float(expires_in) / 2)
                self._token, self._renew_at = token, started + float(expires_in) - margin
                log.info("new OAuth2 access token, valid for %d s", int(expires_in))
            return self._token

    def invalidate(self) -> None:
        with self._lock:
            self._token, self._renew_at = None, 0.0


def xoauth2_string(user: str, token: str) -> str:
    """The SASL XOAUTH2 initial response, before base64: user=U^Aauth=Bearer T^A^A."""
    return f"user={user}\x01auth=Bearer {token}\x01\x01"


def xoauth2_b64(user: str, token: str) -> str:
    return base64.b64encode(xoauth2_string(user, token).encode("utf-8")).decode("ascii")


def msal_fetcher(cfg: OAuthConfig, http_client=None) -> Fetcher:
    """Client-credentials tokens from Microsoft Entra ID (or any authority at [oauth] authority) via MSAL.

    MSAL's own token cache is emptied before each request: when to renew is decided by
    RefreshingTokenSource, and a token the server refused must not come back from MSAL's cache.
    """
    try:
        import msal
    except ImportError as exc:  # pragma: no cover - msal is a dependency
        raise ConfigError("auth = \"xoauth2\" needs the msal package. Fix: pip install msal") from exc

    app = None

    def fetch() -> tuple[str, float]:
        nonlocal app
        try:
            if app is None:
                # instance_discovery=False: no extra call to login.microsoftonline.com; the authority's own
                # OpenID configuration is read, which also lets [oauth] authority point elsewhere.
                app = msal.ConfidentialClientApplication(
                    cfg.client_id, client_credential=cfg.client_secret(), authority=cfg.authority_url,
                    instance_discovery=False, http_client=http_client, timeout=cfg.timeout)
            else:
                app.remove_tokens_for_client()
            result = app.acquire_token_for_client(scopes=[cfg.scope])
        except ConfigError as exc:
            raise OAuthError(str(exc)) from None
        except ValueError as exc:  # MSAL's word for an authority it cannot use
            app = None
            raise OAuthError(f"[oauth] authority {cfg.authority_url!r} cannot be used ({exc}). Fix: check [oauth] "
                             "authority and tenant_id.") from None
        except Exception as exc:  # network errors come from requests; keep the message, drop the traceback
            app = None
            raise OAuthError(f"cannot reach the token endpoint at [oauth] authority {cfg.authority_url!r} "
                             f"({type(exc).__name__}: {exc}). Fix: check [oauth] authority and the network.") from None
        if "access_token" not in result:
            error = result.get("error", "unknown_error")
            description = (result.get("error_description") or "").splitlines()[0][:300]
            raise OAuthError(f"the token endpoint refused [oauth] client_id {cfg.client_id!r} ({error}: "
                             f"{description}). Fix: check [oauth] tenant_id, client_id, the client secret and "
                             f"scope {cfg.scope!r}.")
        return result["access_token"], float(result.get("expires_in", 3600))

    return fetch


_sources: dict[tuple, RefreshingTokenSource] = {}
_sources_lock = threading.Lock()


def token_source(cfg: OAuthConfig) -> TokenSource:
    """The process-wide token source for this [oauth] configuration (IMAP and SMTP share one token)."""
    key = (cfg.authority_url, cfg.client_id, cfg.scope, str(cfg.client_secret_file), cfg.client_secret_env)
    with _sources_lock:
        source = _sources.get(key)
        if source is None:
            source = _sources[key] = RefreshingTokenSource(msal_fetcher(cfg), refresh_before=cfg.refresh_before)
        return source
