"""The web view in a real browser (Playwright, the OS's Chromium, headless) over cases the daemon made from mail.

One Dovecot, SMTP server, daemon database, web server and browser for the whole module; each test signs in
with its own browser context. Effects are checked in the database and at the SMTP server.
"""

from __future__ import annotations

import concurrent.futures
import json
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest
from sqlmodel import select

from intake import config as config_mod
from intake import daemon
from intake.web import create_app
from intake.web.auth import hash_password
from store.db import session_scope
from store.models import Attachment, AuditEvent, Case, Finding, OutboxMail, UserAccount
from tests.conftest import MAILBOX_PASSWORD, MAILBOX_USER, write_config
from tests.samples.demo import complete_swedish, incomplete_swedish
from tests.support.smtp_sink import SmtpSink

CHROMIUM = "/usr/bin/chromium"
PASSWORD = "en-lång-lösenfras-för-test"

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists() or shutil.which("dovecot") is None,
                                reason="needs Chromium at /usr/bin/chromium and Dovecot")


def _empty_mailbox(dovecot) -> None:
    with dovecot.imap(MAILBOX_USER, MAILBOX_PASSWORD) as client:
        for flags, _delim, name in client.list_folders():
            if b"\\Noselect" in flags:
                continue
            client.select_folder(name)
            uids = client.search("ALL")
            if uids:
                client.delete_messages(uids)
                client.expunge()


def _in_thread(fn, *args):
    """Daemon steps use asyncio.run; keep them off the thread where Playwright's loop lives."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(fn, *args).result(timeout=300)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def world(dovecot, tmp_path_factory):
    """Two cases made by the daemon from sample mail: one complete, one incomplete with its request held."""
    tmp = tmp_path_factory.mktemp("webe2e")
    sink = SmtpSink()
    sink.start()
    _empty_mailbox(dovecot)
    (tmp / "web.secret").write_text("a-session-secret-for-the-browser-tests\n")
    path = write_config(tmp / "halsodata.toml", imap_port=dovecot.imap_port, smtp_port=sink.port,
                        store_url=f"sqlite:///{tmp / 'halsodata.db'}",
                        extra='[outbox]\nrequire_approval = ["supplement_request"]\n\n'
                              '[web]\nsecret_file = "web.secret"\nsecure_cookies = false\n')
    config = config_mod.load(path, environ={})
    for sample in (complete_swedish(MAILBOX_USER), incomplete_swedish(MAILBOX_USER)):
        dovecot.deliver(MAILBOX_USER, sample.raw)
    _in_thread(daemon.run_once, config)
    sink.wait_for(2)  # the two acknowledgments; the supplement request waits for approval
    ctx = daemon.open_context(config)
    with session_scope(ctx.engine) as s:
        s.add(UserAccount(username="anna", display_name="Anna Berg", password_hash=hash_password(PASSWORD)))
        cases = {c.state: c.number for c in s.exec(select(Case)).all()}
    assert set(cases) == {"complete", "incomplete"}, cases

    import uvicorn
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(config, ctx), host="127.0.0.1", port=port,
                                           log_level="warning", proxy_headers=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "the web server did not start"
    yield {"config": config, "ctx": ctx, "sink": sink, "base": f"http://127.0.0.1:{port}", "cases": cases}
    server.should_exit = True
    thread.join(timeout=10)
    sink.stop()


def _stop_reader_processes() -> None:
    """The daemon's reader processes are forked and kept; one forked while Playwright runs inherits the pipe to
    its driver, which then never sees the end of its input and never exits."""
    from intake.readers import limits
    pool = getattr(limits, "_POOL", None)
    if pool is not None:
        pool.shutdown()


@pytest.fixture(scope="module")
def browser(world):  # after the world: the readers the daemon forks for it must not inherit the driver's pipe
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield b
        b.close()
        _stop_reader_processes()


@pytest.fixture
def page(browser, world):
    context = browser.new_context(viewport={"width": 1366, "height": 768}, locale="sv-SE")
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


def _sign_in(page, world) -> None:
    page.goto(world["base"] + "/cases")
    assert "/login" in page.url
    page.get_by_label("Användarnamn").fill("anna")
    page.get_by_label("Lösenord").fill(PASSWORD)
    page.get_by_role("button", name="Logga in").click()
    page.wait_for_url("**/cases")


def test_sign_in_and_filter_the_case_list(page, world):
    page.goto(world["base"] + "/login")
    page.get_by_label("Användarnamn").fill("anna")
    page.get_by_label("Lösenord").fill("inte-rätt-lösenord")
    page.get_by_role("button", name="Logga in").click()
    assert page.get_by_role("alert").inner_text().startswith("Fel användarnamn eller lösenord")

    _sign_in(page, world)
    rows = page.locator("table.cases tbody tr")
    assert rows.count() == 2
    incomplete, complete = world["cases"]["incomplete"], world["cases"]["complete"]
    page.get_by_label("Status").select_option("incomplete")
    page.get_by_role("button", name="Filtrera").click()
    page.wait_for_url("**state=incomplete**")
    assert rows.count() == 1 and incomplete in rows.first.inner_text() and "1 svar väntar" in rows.first.inner_text()

    page.get_by_role("link", name="Rensa").click()
    page.get_by_role("searchbox").fill("hjärtsvikt")
    page.get_by_role("button", name="Filtrera").click()
    assert rows.count() == 1 and complete in rows.first.inner_text()

    page.get_by_role("button", name="In English").click()
    assert page.get_by_role("heading", name="Cases").is_visible()
    assert "hjärtsvikt" in page.get_by_role("searchbox").input_value()  # the filter survives the switch
    page.get_by_role("button", name="På svenska").click()
    assert page.get_by_role("heading", name="Ärenden").is_visible()


def test_open_a_case_and_approve_the_held_request(page, world):
    number = world["cases"]["incomplete"]
    _sign_in(page, world)
    page.get_by_role("link", name=number).click()
    page.wait_for_url(f"**/cases/{number}")
    assert page.get_by_role("heading", name="Kontroller").is_visible()
    reply = page.locator("article.reply.status-pending_approval")
    assert reply.count() == 1 and "Begäran om komplettering" in reply.inner_text()
    reply.get_by_role("button", name="Godkänn och skicka").click()
    assert "Svaret är godkänt" in page.get_by_role("status").inner_text()

    with session_scope(world["ctx"].engine) as s:
        request = s.exec(select(OutboxMail).where(OutboxMail.type == "supplement_request")).one()
        assert request.status == "queued"
        [event] = s.exec(select(AuditEvent).where(AuditEvent.action == "outbox.approve")).all()
        assert event.actor == "anna" and event.target == f"outbox:{request.id}"
    sink = world["sink"]
    _in_thread(daemon.run_once, world["config"])  # the send step
    sent = sink.wait_for(3)[2]
    assert sent.message["Message-ID"] == request.message_id and f"[{number}]" in sent.message["Subject"]
    assert "Komplettering behövs" in sent.message["Subject"]
    page.reload()
    assert page.locator(f"#reply-{request.id} .badge").inner_text() == "Skickat"


def test_change_a_documents_kind_reruns_the_rules_and_holds_the_new_request(page, world):
    number = world["cases"]["incomplete"]
    engine = world["ctx"].engine
    with session_scope(engine) as s:
        case = s.exec(select(Case).where(Case.number == number)).one()
        cv = s.exec(select(Attachment).where(Attachment.filename == "CV Karin Nilsson.pdf")).one()
        before = {f.rule: f.status for f in s.exec(select(Finding).where(Finding.case_id == case.id,
                                                                          Finding.current == True))}  # noqa: E712
    assert cv.kind == "other" and before["research_plan.present"] == "ok"
    assert before["ethics_decision.present"] == "missing"
    sent_before = len(world["sink"].messages)

    _sign_in(page, world)
    page.goto(f"{world['base']}/cases/{number}")
    row = page.locator(f"#doc-{cv.id}")
    row.get_by_role("combobox").select_option("ethics_decision")
    row.get_by_role("button", name="Spara").click()
    assert "Dokumenttypen är ändrad" in page.get_by_role("status").inner_text()
    assert "satt av handläggare" in page.locator(f"#doc-{cv.id}").inner_text()

    with session_scope(engine) as s:
        cv = s.get(Attachment, cv.id)
        assert (cv.kind, cv.kind_source) == ("ethics_decision", "coordinator")
        after = {f.rule: f for f in s.exec(select(Finding).where(Finding.case_id == case.id,
                                                                  Finding.current == True))}  # noqa: E712
        assert after["ethics_decision.present"].status == "ok"
        assert "CV Karin Nilsson.pdf" in after["ethics_decision.present"].message_en
        held = s.exec(select(OutboxMail).where(OutboxMail.case_id == case.id,
                                               OutboxMail.status == "pending_approval")).all()
        assert [r.type for r in held] == ["supplement_request"]
        assert "ethics_decision.present" not in json.loads(held[0].items)
        [event] = s.exec(select(AuditEvent).where(AuditEvent.action == "attachment.kind")).all()
        detail = json.loads(event.detail)
        assert (event.actor, detail["before"], detail["after"]) == ("anna", "other", "ethics_decision")
    # a held reply does not go out on its own
    _in_thread(daemon.run_once, world["config"])
    assert len(world["sink"].messages) == sent_before
