"""Run a real SMTP server on 127.0.0.1 that records every message it accepts, for tests and the demo.

Usage from Python::

    with SmtpSink() as sink:
        ...  # make the code under test send to sink.host:sink.port
        [msg] = sink.wait_for(1)
        assert msg.message["Subject"] == "hello"

    sink.fail_with = (451, "4.3.0 try later")   # next DATA is refused, nothing recorded
    sink.stop(); sink.start()                   # outage, then back on the same port

Usage from a shell (foreground until SIGTERM/SIGINT; prints one JSON line when ready)::

    python -m tests.support.smtp_sink --port 10025 --dir /tmp/hdsink
"""

from __future__ import annotations

import argparse
import email
import email.policy
import errno
import json
import os
import re
import base64
import signal
import socket
import ssl
import sys
import threading
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Callable

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session

# Fixed greeting name: the default calls socket.getfqdn(), which can stall for seconds without DNS.
SERVER_HOSTNAME = "smtp-sink.test"


@dataclass
class Received:
    """One message as the sink accepted it: envelope plus the raw DATA bytes."""

    mail_from: str
    rcpt_tos: list[str] = field(default_factory=list)
    data: bytes = b""

    @property
    def message(self) -> EmailMessage:
        return email.message_from_bytes(self.data, policy=email.policy.default)  # type: ignore[return-value]

    def summary(self) -> str:
        subject = self.message.get("Subject", "")
        return f"from={self.mail_from!r} to={self.rcpt_tos!r} subject={subject!r} bytes={len(self.data)}"


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _check_bindable(host: str, port: int) -> None:
    # aiosmtpd only reports a bind failure after its whole ready_timeout; fail fast instead.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # asyncio's create_server does too
        s.bind((host, port))


class _Handler:
    def __init__(self, sink: "SmtpSink") -> None:
        self.sink = sink

    async def auth_XOAUTH2(self, server: SMTP, args: list[str]) -> AuthResult:
        """SASL XOAUTH2: base64("user=" U "\\x01auth=Bearer " T "\\x01\\x01"); U and T checked against
        ``SmtpSink.xoauth2_tokens``. A refusal is the 334 JSON challenge, then 535, as Microsoft 365 does."""
        try:
            if len(args) > 1:
                decoded = base64.b64decode(args[1].encode("ascii"), validate=True)
            else:
                decoded = await server.challenge_auth("")
                if not isinstance(decoded, bytes):  # the client aborted with "*"
                    return AuthResult(success=False, handled=True)
            text = decoded.decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            return AuthResult(success=False, handled=False, message="501 5.5.2 Cannot decode XOAUTH2")
        self.sink._record_auth(text)
        fields = dict(part.split("=", 1) for part in text.split("\x01") if "=" in part)
        user, bearer = fields.get("user", ""), fields.get("auth", "")
        token = bearer[len("Bearer "):] if bearer.startswith("Bearer ") else None
        if token is not None and (self.sink.xoauth2_tokens or {}).get(user) == token:
            return AuthResult(success=True, auth_data=user)
        error = base64.b64encode(json.dumps({"status": "401", "schemes": "bearer"}).encode()).decode()
        await server.challenge_auth(error, encode_to_b64=False)  # the client answers with an empty line
        return AuthResult(success=False, handled=False, message="535 5.7.3 Authentication unsuccessful")

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        fail = self.sink.fail_with
        if fail is not None:
            code, text = fail
            return f"{code} {text}"
        data = envelope.original_content
        if data is None:  # only when aiosmtpd decodes content; we never ask it to
            data = envelope.content if isinstance(envelope.content, bytes) else envelope.content.encode()
        self.sink._record(Received(envelope.mail_from or "", list(envelope.rcpt_tos), data))
        return "250 2.0.0 OK: queued by smtp-sink"


class SmtpSink:
    """aiosmtpd-based SMTP server on 127.0.0.1 that keeps what it receives in memory (and on disk)."""

    host = "127.0.0.1"

    def __init__(self, port: int | None = None, out_dir: Path | None = None, *,
                 tls: tuple[str | os.PathLike, str | os.PathLike] | None = None,
                 tls_mode: str = "starttls",
                 xoauth2_tokens: dict[str, str] | None = None) -> None:
        """``tls=(cert_path, key_path)`` serves TLS: ``tls_mode="starttls"`` (STARTTLS offered and
        required before MAIL) or ``"tls"`` (implicit TLS from the first byte). ``xoauth2_tokens``
        ({user: access token}) offers AUTH XOAUTH2 and accepts exactly those pairs. Off by default."""
        if tls_mode not in ("starttls", "tls"):
            raise ValueError(f"tls_mode must be 'starttls' or 'tls', got {tls_mode!r}")
        self.tls = (Path(tls[0]), Path(tls[1])) if tls else None
        self.tls_mode = tls_mode
        # None: no XOAUTH2 set-up (the default); a dict, even empty, may be filled in while running.
        self.xoauth2_tokens: dict[str, str] | None = None if xoauth2_tokens is None else dict(xoauth2_tokens)
        # Every decoded XOAUTH2 string the server received, for tests of what the client sent.
        self.auth_strings: list[str] = []
        self._auto_port = port is None
        self.port: int = _free_port(self.host) if port is None else port
        self.out_dir = Path(out_dir) if out_dir is not None else None
        # When set, DATA is answered with this (code, text) and the message is not recorded.
        self.fail_with: tuple[int, str] | None = None
        # Called (in the server thread) after each recorded message; the CLI logs with it.
        self.on_message: Callable[[Received], None] | None = None
        self._cond = threading.Condition()
        self._messages: list[Received] = []
        self._controller: Controller | None = None
        self._next_file_no = 1

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._controller is not None

    def start(self) -> "SmtpSink":
        """Listen on ``self.port`` (the same port again after a stop())."""
        if self._controller is not None:
            raise RuntimeError(f"SmtpSink already running on {self.host}:{self.port}")
        if self.out_dir is not None:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            self._next_file_no = self._scan_next_file_no()
        for attempt in range(3):
            try:
                _check_bindable(self.host, self.port)
                break
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE and self._auto_port and attempt < 2:
                    self.port = _free_port(self.host)  # lost a race for the picked port
                    continue
                raise OSError(exc.errno, f"SmtpSink cannot listen on {self.host}:{self.port}: {exc.strerror}") from exc
        # A Controller cannot be restarted (its thread closes its event loop), so make one per start.
        kwargs: dict = {}
        if self.tls is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(str(self.tls[0]), str(self.tls[1]))
            if self.tls_mode == "tls":
                kwargs["ssl_context"] = context
            else:
                kwargs.update(tls_context=context, require_starttls=True)
        if self.xoauth2_tokens is not None:
            # Tests of XOAUTH2 may run over plain TCP on loopback; a real server requires TLS first.
            kwargs.update(auth_require_tls=False, auth_exclude_mechanism=["LOGIN", "PLAIN"])
        controller = Controller(
            _Handler(self),
            hostname=self.host,
            port=self.port,
            server_hostname=SERVER_HOSTNAME,
            ready_timeout=10.0,
            **kwargs,
        )
        try:
            controller.start()
        except BaseException:
            if not controller.loop.is_closed():
                controller.loop.close()
            raise
        self._controller = controller
        # After a stop() on an auto-picked port, start() must come back on the same port.
        self._auto_port = False
        return self

    def stop(self) -> None:
        """Close the listener and drop open sessions (clients see the connection go away)."""
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    def __enter__(self) -> "SmtpSink":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- received mail ---------------------------------------------------------------------

    @property
    def messages(self) -> list[Received]:
        """Snapshot of the messages accepted so far, oldest first."""
        with self._cond:
            return list(self._messages)

    def clear(self) -> None:
        """Forget the messages in memory (files already in out_dir stay)."""
        with self._cond:
            self._messages.clear()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        """Block until at least ``count`` messages arrived; return them all."""
        with self._cond:
            if self._cond.wait_for(lambda: len(self._messages) >= count, timeout=timeout):
                return list(self._messages)
            got = list(self._messages)
        listing = "".join(f"\n  {i}: {m.summary()}" for i, m in enumerate(got, 1)) or " nothing"
        raise AssertionError(
            f"SmtpSink on {self.host}:{self.port} expected at least {count} message(s) within "
            f"{timeout}s, got {len(got)}:{listing}"
        )

    def _record_auth(self, text: str) -> None:
        with self._cond:
            self.auth_strings.append(text)

    def _record(self, received: Received) -> None:
        with self._cond:
            if self.out_dir is not None:
                self._write_file(received)
            self._messages.append(received)
            self._cond.notify_all()
        if self.on_message is not None:
            self.on_message(received)

    def _scan_next_file_no(self) -> int:
        # Continue numbering after earlier runs so a restarted sink never overwrites mail.
        assert self.out_dir is not None
        numbers = [int(m.group(1)) for p in self.out_dir.iterdir() if (m := re.fullmatch(r"(\d+)\.eml", p.name))]
        return max(numbers, default=0) + 1

    def _write_file(self, received: Received) -> None:
        assert self.out_dir is not None
        final = self.out_dir / f"{self._next_file_no:04d}.eml"
        # Dot-prefixed temp name + rename: watchers of *.eml never see a half-written file.
        tmp = self.out_dir / f".{final.name}.tmp"
        with open(tmp, "wb") as f:
            f.write(received.data)
        os.replace(tmp, final)
        self._next_file_no += 1


# -- CLI -------------------------------------------------------------------------------------


def _parse_fail_with(value: str) -> tuple[int, str]:
    code, _, text = value.partition(" ")
    if not (code.isdigit() and len(code) == 3 and code[0] in "45"):
        raise argparse.ArgumentTypeError(f"expected e.g. '451 4.3.0 try later', got {value!r}")
    return int(code), text or "error"


def _cli(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.support.smtp_sink", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="0 (default) picks a free port")
    parser.add_argument("--dir", type=Path, help="also write each message there as NNNN.eml")
    parser.add_argument("--fail-with", type=_parse_fail_with, metavar="'CODE TEXT'",
                        help="answer DATA with this error instead of accepting, e.g. '451 4.3.0 try later'")
    args = parser.parse_args(argv)

    sink = SmtpSink(port=args.port or None, out_dir=args.dir)
    sink.fail_with = args.fail_with
    sink.on_message = lambda r: print(f"smtp-sink: received {r.summary()}", file=sys.stderr, flush=True)

    stop = threading.Event()
    # Handlers only set a flag; the main thread does the shutdown outside signal context.
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    sink.start()
    print(json.dumps({"host": sink.host, "port": sink.port, "dir": str(args.dir) if args.dir else None}), flush=True)
    try:
        while not stop.wait(0.5):  # a timed wait keeps signals deliverable to the main thread
            pass
    finally:
        sink.stop()
    return 0


if __name__ == "__main__":
    sys.exit(_cli())
