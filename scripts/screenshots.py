"""Screenshots of the web view for a reviewer: the case list and a case page at laptop width (1366x768).

    .venv/bin/python scripts/screenshots.py [OUT_DIR]      (default .demo/screenshots/)

Everything runs on 127.0.0.1 in a temporary directory: a local Dovecot and SMTP server, the five demo
applications taken in by `halsodata run --once` (supplement requests held for approval, so the outbox has
something to approve), `halsodata web`, and the OS's Chromium (headless, through Playwright).
"""

from __future__ import annotations

import argparse
import shutil
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from intake import config as config_mod  # noqa: E402
from intake import daemon  # noqa: E402
from intake.web import create_app  # noqa: E402
from intake.web.auth import hash_password  # noqa: E402
from sqlmodel import select  # noqa: E402
from store.db import session_scope  # noqa: E402
from store.models import Case, UserAccount  # noqa: E402
from tests.conftest import MAILBOX_PASSWORD, MAILBOX_USER, write_config  # noqa: E402
from tests.samples.demo import demo_set  # noqa: E402
from tests.support.dovecot import Dovecot, make_rundir  # noqa: E402
from tests.support.smtp_sink import SmtpSink  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
# the mailbox user and password write_config puts in the configuration
USER, PASSWORD = MAILBOX_USER, MAILBOX_PASSWORD
COORDINATOR_PASSWORD = "screenshots-only-password"
VIEWPORT = {"width": 1366, "height": 768}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", nargs="?", type=Path, default=ROOT / ".demo" / "screenshots",
                    help="directory for the PNG files (default .demo/screenshots/)")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if not Path(CHROMIUM).exists():
        sys.exit(f"Chromium is not at {CHROMIUM}. Fix: install it (scripts/bootstrap.sh does).")

    work = Path(tempfile.mkdtemp(prefix="hd-screens-"))
    rundir = make_rundir("hdshots")
    dovecot = Dovecot(rundir, users={USER: PASSWORD})
    sink = SmtpSink()
    server = None
    try:
        dovecot.start()
        sink.start()
        (work / "web.secret").write_text("screenshots-only-session-secret\n")
        path = write_config(work / "halsodata.toml", imap_port=dovecot.imap_port, smtp_port=sink.port,
                            store_url=f"sqlite:///{work / 'halsodata.db'}",
                            extra='[outbox]\nrequire_approval = ["supplement_request"]\n\n'
                                  '[web]\nsecret_file = "web.secret"\nsecure_cookies = false\n')
        config = config_mod.load(path, environ={})
        for sample in demo_set(USER):
            dovecot.deliver(USER, sample.raw)
        report = daemon.run_once(config)
        print(f"{report.processed} demo mails taken in, {report.sent} replies sent")
        ctx = daemon.open_context(config)
        with session_scope(ctx.engine) as s:
            s.add(UserAccount(username="anna", display_name="Anna Berg",
                              password_hash=hash_password(COORDINATOR_PASSWORD)))
            incomplete = s.exec(select(Case).where(Case.state == "incomplete").order_by(Case.id)).first()
            number = (incomplete or s.exec(select(Case)).first()).number
            numbers = [c.number for c in s.exec(select(Case).order_by(Case.id))]

        import uvicorn
        port = _free_port()
        server = uvicorn.Server(uvicorn.Config(create_app(config, ctx), host="127.0.0.1", port=port,
                                               log_level="warning", proxy_headers=False))
        threading.Thread(target=server.run, daemon=True).start()
        while not server.started:
            time.sleep(0.05)
        base = f"http://127.0.0.1:{port}"
        from intake.readers import limits
        limits._POOL.shutdown()  # forked readers would hold the browser driver's pipe open

        from playwright.sync_api import sync_playwright
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True)
            page = browser.new_context(viewport=VIEWPORT, locale="sv-SE").new_page()
            page.goto(base + "/login")
            page.screenshot(path=str(args.out / "login.png"))
            page.get_by_label("Användarnamn").fill("anna")
            page.get_by_label("Lösenord").fill(COORDINATOR_PASSWORD)
            page.get_by_role("button", name="Logga in").click()
            page.wait_for_url("**/cases")
            page.screenshot(path=str(args.out / "cases.png"))
            page.goto(f"{base}/cases/{number}")
            page.screenshot(path=str(args.out / "case.png"))
            page.screenshot(path=str(args.out / "case-full.png"), full_page=True)
            written = ["login.png", "cases.png", "case.png", "case-full.png"]
            edit = page.get_by_role("link", name="Redigera")
            if edit.count():
                edit.first.click()
                page.screenshot(path=str(args.out / "reply-edit.png"))
                written.append("reply-edit.png")
            page.goto(base + "/audit")
            page.screenshot(path=str(args.out / "audit.png"))
            written.append("audit.png")
            for other in numbers:  # every demo case, whole page, for a closer look
                page.goto(f"{base}/cases/{other}")
                page.screenshot(path=str(args.out / f"case-{other}.png"), full_page=True)
                written.append(f"case-{other}.png")
            page.goto(base + "/cases")
            page.get_by_role("button", name="In English").click()
            page.screenshot(path=str(args.out / "cases-en.png"))
            page.goto(f"{base}/cases/{number}")
            page.screenshot(path=str(args.out / "case-en-full.png"), full_page=True)
            browser.close()
        for name in [*written, "cases-en.png", "case-en-full.png"]:
            print(args.out / name)
        return 0
    finally:
        if server is not None:
            server.should_exit = True
        sink.stop()
        dovecot.stop()
        shutil.rmtree(rundir, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
