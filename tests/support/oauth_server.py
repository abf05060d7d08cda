"""A tiny identity provider on 127.0.0.1 for XOAUTH2 tests: what MSAL and Dovecot's oauth2 passdb talk to.

- HTTPS (certificate from a test CA): ``/<tenant>/v2.0/.well-known/openid-configuration`` and
  ``/<tenant>/oauth2/v2.0/token`` with the client-credentials grant, as Microsoft Entra ID serves them,
  so the real MSAL library can be pointed at ``https://127.0.0.1:<port>`` as its authority.
- HTTP: ``/introspect``, RFC 7662 token introspection (POST token=...), for Dovecot's
  ``introspection_url``; answers ``{"active": true, "username": <the shared mailbox>}`` for a live token.

Tokens are random strings that expire after ``expires_in`` seconds (or when revoked).
"""

from __future__ import annotations

import json
import secrets
import ssl
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


@dataclass
class Issued:
    token: str
    username: str
    scope: str
    expires_at: float
    revoked: bool = False

    @property
    def active(self) -> bool:
        return not self.revoked and time.time() < self.expires_at


@dataclass
class IdentityProvider:
    tenant: str
    client_id: str
    client_secret: str
    mailbox: str  # the shared mailbox the app registration may use; the token's username
    cert: tuple[Path, Path]  # (certificate, key) for the HTTPS side
    scope: str = "https://outlook.office365.com/.default"
    expires_in: int = 3600
    issued: list[Issued] = field(default_factory=list)
    introspections: list[str] = field(default_factory=list)
    token_requests: list[dict] = field(default_factory=list)

    def __post_init__(self):
        self._lock = threading.Lock()
        self._servers: list[ThreadingHTTPServer] = []

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> "IdentityProvider":
        https = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self, secure=True))
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(self.cert[0]), str(self.cert[1]))
        https.socket = context.wrap_socket(https.socket, server_side=True)
        http = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self, secure=False))
        for server in (https, http):
            server.daemon_threads = True
            threading.Thread(target=server.serve_forever, name="test-idp", daemon=True).start()
            self._servers.append(server)
        self.authority = f"https://127.0.0.1:{https.server_address[1]}"
        self.introspection_url = f"http://127.0.0.1:{http.server_address[1]}/introspect"
        return self

    def stop(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()
        self._servers.clear()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- tokens ----------------------------------------------------------------------------
    def revoke_all(self) -> None:
        with self._lock:
            for issued in self.issued:
                issued.revoked = True

    def _issue(self, scope: str) -> Issued:
        issued = Issued(secrets.token_urlsafe(32), self.mailbox, scope, time.time() + self.expires_in)
        with self._lock:
            self.issued.append(issued)
        return issued

    def _lookup(self, token: str) -> Issued | None:
        with self._lock:
            self.introspections.append(token)
            return next((i for i in self.issued if i.token == token), None)


def _handler(idp: IdentityProvider, secure: bool):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # keep test output quiet
            pass

        def _json(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _form(self) -> dict[str, str]:
            length = int(self.headers.get("Content-Length") or 0)
            return dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))

        def do_GET(self):
            base = f"{idp.authority}/{idp.tenant}"
            if secure and self.path.split("?")[0] == f"/{idp.tenant}/v2.0/.well-known/openid-configuration":
                return self._json(200, {
                    "issuer": f"{base}/v2.0",
                    "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                    "token_endpoint": f"{base}/oauth2/v2.0/token",
                    "token_endpoint_auth_methods_supported": ["client_secret_post"],
                })
            self._json(404, {"error": "not_found"})

        def do_POST(self):
            form = self._form()
            if secure and self.path == f"/{idp.tenant}/oauth2/v2.0/token":
                idp.token_requests.append({k: v for k, v in form.items() if k != "client_secret"})
                if form.get("grant_type") != "client_credentials":
                    return self._json(400, {"error": "unsupported_grant_type"})
                if form.get("client_id") != idp.client_id or form.get("client_secret") != idp.client_secret:
                    return self._json(401, {"error": "invalid_client",
                                            "error_description": "AADSTS7000215: Invalid client secret provided."})
                if idp.scope not in form.get("scope", "").split():
                    return self._json(400, {"error": "invalid_scope", "error_description": "AADSTS70011: bad scope"})
                issued = idp._issue(idp.scope)
                return self._json(200, {"token_type": "Bearer", "expires_in": idp.expires_in,
                                        "ext_expires_in": idp.expires_in, "access_token": issued.token})
            if not secure and self.path == "/introspect":
                token = form.get("token", "")
                if not token:  # Dovecot may also send it as a bearer header
                    token = (self.headers.get("Authorization") or "").removeprefix("Bearer ").strip()
                issued = idp._lookup(token)
                if issued is None or not issued.active:
                    return self._json(200, {"active": False})
                return self._json(200, {"active": True, "username": issued.username, "scope": issued.scope,
                                        "client_id": idp.client_id, "exp": int(issued.expires_at)})
            self._json(404, {"error": "not_found"})

    return Handler
