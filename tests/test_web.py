"""The web view without a browser: sign-in, CSRF, the proxy header, downloads, actions and their audit trail."""

from __future__ import annotations

import getpass
import json
import re

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlmodel import select

from intake import config as config_mod
from intake.cli import main
from intake.daemon import open_context
from intake.evaluate import evaluate
from intake.web import create_app
from store.db import session_scope
from store.models import Attachment, AuditEvent, Case, InboundMail, OutboxMail, UserAccount
from tests.conftest import write_config

PASSWORD = "korrekt-häst-batteri"
PDF = b"%PDF-1.4\n<script>alert(1)</script>\n%%EOF\n"


def _config(tmp_path, web: str = "", store_url: str | None = None):
    (tmp_path / "web.secret").write_text("a-session-secret-for-the-tests-only\n")
    extra = ('[web]\nsecret_file = "web.secret"\nsecure_cookies = false\n' + web)
    path = write_config(tmp_path / "halsodata.toml", imap_port=1, smtp_port=2,
                        store_url=store_url or f"sqlite:///{tmp_path / 'halsodata.db'}", extra=extra)
    return config_mod.load(path, environ={})


def _seed(ctx, config) -> dict:
    """One incomplete case with a mail, a mis-classified document and a reply waiting for approval."""
    digest = ctx.blobs.put(PDF)
    with session_scope(ctx.engine) as s:
        case = Case(number="HD-2026-0007", year=2026, seq=7, researcher="karin@uni.example",
                    researcher_name="Karin Nilsson", title="Uppföljning av lungnoduler")
        s.add(case)
        s.flush()
        mail = InboundMail(account="a", folder="INBOX", uidvalidity=1, uid=1, message_id="<m1@uni.example>",
                           sha256="0" * 64, size=100, status="processed", case_id=case.id,
                           from_address="karin@uni.example", from_name="Karin Nilsson", subject="Ansökan",
                           body_text="Hej <b>bold</b> 19121212-1212\n", language="sv")
        s.add(mail)
        s.flush()
        att = Attachment(mail_id=mail.id, filename='Ansökan "signerad".pdf', content_type="text/html",
                         size=len(PDF), sha256=digest, kind="other", confidence=0.3)
        s.add(att)
        evaluate(s, case, config.rules)
        reply = OutboxMail(case_id=case.id, type="supplement_request", status="pending_approval",
                           message_id="<r1@region.test>", to="karin@uni.example",
                           subject="[HD-2026-0007] Komplettering behövs", language="sv", body="Hej Karin\n")
        s.add(reply)
        s.add(UserAccount(username="anna", display_name="Anna Berg", password_hash=_hash(PASSWORD)))
        s.flush()
        return {"case": case.id, "attachment": att.id, "reply": reply.id}


def _hash(password: str) -> str:
    from intake.web.auth import hash_password
    return hash_password(password)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("web")
    config = _config(tmp)
    ctx = open_context(config)
    ids = _seed(ctx, config)
    return config, ctx, ids


def _client(site, **kwargs) -> TestClient:
    config, ctx, _ = site
    return TestClient(create_app(config, ctx), follow_redirects=False, **kwargs)


def _csrf(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def _signed_in(site) -> TestClient:
    client = _client(site)
    token = _csrf(client.get("/login").text)
    response = client.post("/login", data={"csrf": token, "username": "anna", "password": PASSWORD, "next": "/cases"})
    assert response.status_code == 303 and response.headers["location"] == "/cases"
    return client


def _events(ctx, action: str) -> list[AuditEvent]:
    with session_scope(ctx.engine) as s:
        return s.exec(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)).all()


def test_pages_need_a_sign_in_and_a_wrong_password_is_refused_and_recorded(site):
    _, ctx, _ = site
    client = _client(site)
    assert client.get("/cases/HD-2026-0007").headers["location"] == "/login?next=%2Fcases%2FHD-2026-0007"
    page = client.get("/login")
    assert page.status_code == 200 and "Logga in" in page.text
    refused = client.post("/login", data={"csrf": _csrf(page.text), "username": "anna", "password": "fel-lösenord!"})
    assert refused.status_code == 401 and "Fel användarnamn eller lösenord" in refused.text
    unknown = client.post("/login", data={"csrf": _csrf(page.text), "username": "nobody", "password": PASSWORD})
    assert unknown.status_code == 401
    assert client.get("/cases").status_code == 303  # still not signed in
    failed = _events(ctx, "signin.failed")
    assert [e.actor for e in failed][-2:] == ["anna", "nobody"]
    assert PASSWORD not in json.dumps([e.detail for e in failed]) and "fel-lösenord" not in failed[-2].detail


def test_a_form_without_the_right_csrf_token_changes_nothing(site):
    _, ctx, ids = site
    client = _signed_in(site)
    for token in ("", "forged-token"):
        response = client.post(f"/replies/{ids['reply']}/approve", data={"csrf": token})
        assert response.status_code == 403 and "Ladda om sidan" in response.text
    assert client.post("/login", data={"username": "anna", "password": PASSWORD}).status_code == 403
    with session_scope(ctx.engine) as s:
        assert s.get(OutboxMail, ids["reply"]).status == "pending_approval"
    # another browser's token (a valid one, for another session) is no good either
    other = _client(site)
    foreign = _csrf(other.get("/login").text)
    assert client.post("/cases/HD-2026-0007/state", data={"csrf": foreign, "state": "clarification"}
                       ).status_code == 403
    with session_scope(ctx.engine) as s:
        assert s.get(Case, ids["case"]).state == "incomplete"


def test_session_cookie_and_security_headers(site):
    client = _client(site)
    response = client.get("/login")
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "secure" not in cookie  # secure_cookies = false
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "<script" not in response.text and not re.search(r"\s(style|on\w+)=", response.text)  # nothing inline


def test_a_document_downloads_as_an_attachment_and_is_recorded(site):
    _, ctx, ids = site
    client = _signed_in(site)
    response = client.get(f"/attachments/{ids['attachment']}/download")
    assert response.status_code == 200 and response.content == PDF  # decrypted from the store
    assert response.headers["content-disposition"].startswith('attachment; filename="Ans_kan _signerad_.pdf"')
    assert "filename*=UTF-8''Ans%C3%B6kan%20%22signerad%22.pdf" in response.headers["content-disposition"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-type"] == "application/octet-stream"  # never the sender's text/html
    [event] = _events(ctx, "attachment.download")
    assert event.actor == "anna" and event.case_id == ids["case"] and event.target == f"attachment:{ids['attachment']}"
    assert client.get("/attachments/999999/download").status_code == 404


def test_the_case_page_shows_mail_text_escaped_and_masked(site):
    client = _signed_in(site)
    page = client.get("/cases/HD-2026-0007")
    assert page.status_code == 200
    assert "Hej &lt;b&gt;bold&lt;/b&gt;" in page.text and "<b>bold</b>" not in page.text
    assert "19121212-1212" not in page.text
    assert "Uppföljning av lungnoduler" in page.text and "Väntar på godkännande" in page.text
    # the next step points at the outbox on this page, not at a command line
    assert "som väntar på godkännande i utkorgen." in page.text and "halsodata outbox list" not in page.text


def test_an_identity_number_in_a_file_name_is_masked_on_the_page_and_in_the_download(site):
    """Regression: the CLI, summaries and replies masked it, the web case page showed it three times (document
    link, kind selector, the mail's attachment list) and sent it in the download's file name."""
    _, ctx, ids = site
    with session_scope(ctx.engine) as s:
        mail_id = s.get(Attachment, ids["attachment"]).mail_id
        extra = Attachment(mail_id=mail_id, filename="lista 19121212-1212.txt", content_type="text/plain",
                           size=len(PDF), sha256=ctx.blobs.put(PDF), kind="other", confidence=0.3,
                           container="bilagor 19121212-1212.zip")
        s.add(extra)
        s.flush()
        extra_id = extra.id
    try:
        client = _signed_in(site)
        page = client.get("/cases/HD-2026-0007")
        assert page.status_code == 200 and "lista ÅÅÅÅMMDD-XXXX.txt" in page.text
        assert "19121212" not in page.text
        download = client.get(f"/attachments/{extra_id}/download")
        assert "19121212" not in download.headers["content-disposition"]
    finally:
        with session_scope(ctx.engine) as s:
            s.delete(s.get(Attachment, extra_id))


def test_a_file_missing_from_the_store_is_explained_in_the_coordinators_language(site):
    """Found by an operator trial: the Swedish page said 'Filen kunde inte läsas från lagringen: stored file …
    cannot be decrypted … keep the old key as a second line of the key file', key advice in English."""
    _, ctx, ids = site
    with session_scope(ctx.engine) as s:
        mail_id = s.get(Attachment, ids["attachment"]).mail_id
        gone = Attachment(mail_id=mail_id, filename="borta.pdf", content_type="application/pdf", size=1,
                          sha256="f" * 64, kind="other", confidence=0.3)
        s.add(gone)
        s.flush()
        gone_id = gone.id
    try:
        client = _signed_in(site)
        page = client.get(f"/attachments/{gone_id}/download", follow_redirects=True)
        assert "Filen kunde inte läsas från lagringen (filen saknas). Be driften köra halsodata doctor" in page.text
        assert "stored file" not in page.text and "key file" not in page.text
    finally:
        with session_scope(ctx.engine) as s:
            s.delete(s.get(Attachment, gone_id))


def test_actions_are_audited_with_who_and_what(site):
    _, ctx, ids = site
    client = _signed_in(site)
    token = _csrf(client.get("/cases/HD-2026-0007").text)
    moved = client.post("/cases/HD-2026-0007/state", data={"csrf": token, "state": "clarification",
                                                            "note": "Ringt forskaren om urvalet"})
    assert moved.status_code == 303
    page = client.get(moved.headers["location"])
    assert "Ärendet är flyttat till Förtydligande" in page.text
    closed = client.post("/cases/HD-2026-0007/state", data={"csrf": token, "state": "closed", "note": "Återtagen"})
    assert closed.status_code == 303
    with session_scope(ctx.engine) as s:
        case = s.get(Case, ids["case"])
        assert case.state == "closed" and case.closed_at is not None
    events = _events(ctx, "case.state")
    assert [(e.actor, json.loads(e.detail)["before"], json.loads(e.detail)["after"]) for e in events] == [
        ("anna", "incomplete", "clarification"), ("anna", "clarification", "closed")]
    assert json.loads(events[0].detail)["note"] == "Ringt forskaren om urvalet"
    audit_page = client.get("/audit")
    assert "Flyttade ärendet" in audit_page.text and "Ringt forskaren om urvalet" in audit_page.text
    reopened = client.post("/cases/HD-2026-0007/state", data={"csrf": token, "state": "automatic", "note": ""})
    assert reopened.status_code == 303
    with session_scope(ctx.engine) as s:
        case = s.get(Case, ids["case"])
        assert case.state == "incomplete" and case.closed_at is None


def test_proxy_header_is_trusted_only_from_the_configured_proxy(tmp_path):
    config = _config(tmp_path, 'auth = "proxy"\ntrusted_proxies = ["10.1.2.0/24"]\nproxy_header = "X-Remote-User"\n')
    ctx = open_context(config)
    _seed(ctx, config)
    app = create_app(config, ctx)
    outsider = TestClient(app, client=("192.0.2.9", 5000), follow_redirects=False)
    refused = outsider.get("/cases", headers={"X-Remote-User": "anna"})
    assert refused.status_code == 403 and "omvänd proxy" in refused.text
    proxied = TestClient(app, client=("10.1.2.3", 5000), follow_redirects=False)
    assert proxied.get("/cases").status_code == 403  # through the proxy, but nobody signed in
    page = proxied.get("/cases", headers={"X-Remote-User": "erik"})
    assert page.status_code == 200 and "HD-2026-0007" in page.text
    with session_scope(ctx.engine) as s:
        erik = s.exec(select(UserAccount).where(UserAccount.username == "erik")).one()
        assert erik.password_hash == ""  # no local password: only the proxy signs erik in
        erik.active = False
    assert proxied.get("/cases", headers={"X-Remote-User": "erik"}).status_code == 403
    assert [e.actor for e in _events(ctx, "signin")] == ["erik"]


def test_users_command_adds_lists_and_disables_accounts(tmp_path):
    config = _config(tmp_path)
    cfg = ["--config", str(config.source)]
    run = CliRunner().invoke
    assert run(main, [*cfg, "users", "add", "maria"], input="kort\n").exit_code != 0
    added = run(main, [*cfg, "users", "add", "maria", "--display-name", "Maria Ek"], input=PASSWORD + "\n")
    assert added.exit_code == 0, added.output
    assert run(main, [*cfg, "users", "add", "maria"], input=PASSWORD + "\n").exit_code != 0
    [row] = json.loads(run(main, [*cfg, "users", "list", "--json"]).stdout)
    assert row["username"] == "maria" and row["active"] and row["local_password"]
    ctx = open_context(config)
    with session_scope(ctx.engine) as s:
        stored = s.exec(select(UserAccount)).one().password_hash
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    client = TestClient(create_app(config, ctx), follow_redirects=False)
    token = _csrf(client.get("/login").text)
    assert client.post("/login", data={"csrf": token, "username": "maria", "password": PASSWORD}).status_code == 303
    assert client.get("/cases").status_code == 200
    assert run(main, [*cfg, "users", "disable", "maria"]).exit_code == 0
    assert client.get("/cases").status_code == 403  # the open session ends at its next request
    again = TestClient(create_app(config, ctx), follow_redirects=False)
    token = _csrf(again.get("/login").text)
    assert again.post("/login", data={"csrf": token, "username": "maria", "password": PASSWORD}).status_code == 401
    with session_scope(ctx.engine) as s:
        actions = [(e.actor.split(":")[0], e.action) for e in s.exec(select(AuditEvent).order_by(AuditEvent.id))]
    assert ("cli", "user.add") in actions and ("cli", "user.disable") in actions and ("maria", "signin") in actions


def test_cli_outbox_commands_are_audited_like_the_web(site):
    config, ctx, ids = site
    run, cfg = CliRunner().invoke, ["--config", str(config.source)]
    edited = run(main, [*cfg, "outbox", "edit", str(ids["reply"]), "--subject", "[HD-2026-0007] Komplettering"])
    assert edited.exit_code == 0, edited.output
    assert run(main, [*cfg, "outbox", "approve", str(ids["reply"])]).exit_code == 0
    events = _events(ctx, "outbox.edit") + _events(ctx, "outbox.approve")
    assert [(e.actor, e.target) for e in events] == [(f"cli:{getpass.getuser()}", f"outbox:{ids['reply']}")] * 2
    assert json.loads(events[0].detail) == {"type": "supplement_request", "body_changed": False,
                                            "subject_changed": True}
    client = _signed_in(site)
    page = client.get("/cases/HD-2026-0007")
    assert "Godkände svar" in page.text and f"cli:{getpass.getuser()}" in page.text  # the case's history


def test_hostile_text_is_shown_as_text_and_redirects_stay_on_the_site(site):
    _, ctx, ids = site
    with session_scope(ctx.engine) as s:
        s.get(Case, ids["case"]).title = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    client = _signed_in(site)
    assert "<script>alert" not in client.get("/cases").text
    assert "&lt;script&gt;alert" in client.get("/cases/HD-2026-0007").text
    other = _client(site)
    token = _csrf(other.get("/login").text)
    away = other.post("/login", data={"csrf": token, "username": "anna", "password": PASSWORD,
                                      "next": "//evil.example/cases"})
    assert away.headers["location"] == "/cases"


def test_filters_for_overdue_and_needs_review_and_swedish_time(site):
    from datetime import datetime, timedelta, timezone

    from store.models import Finding, utcnow
    _, ctx, ids = site
    with session_scope(ctx.engine) as s:
        case = s.get(Case, ids["case"])
        case.state = "incomplete"
        case.opened_at = datetime(2026, 7, 1, 10, 0, tzinfo=timezone.utc)  # summer time: UTC+2
        for mail in s.exec(select(InboundMail).where(InboundMail.case_id == case.id)):
            mail.fetched_at = utcnow() - timedelta(days=30)  # the request below came after it, unanswered
        s.add(Case(number="HD-2026-0008", year=2026, seq=8, researcher="per@uni.example", title="Annat projekt",
                   state="complete"))
        s.add(OutboxMail(case_id=case.id, type="supplement_request", status="sent", message_id="<r2@region.test>",
                         to="karin@uni.example", subject="[HD-2026-0007] Komplettering", language="sv", body="x\n",
                         sent_at=utcnow() - timedelta(days=20)))
        s.add(Finding(case_id=case.id, rule="sender.authenticated", status="needs_review", current=True))
    client = _signed_in(site)
    everything = client.get("/cases").text
    assert "HD-2026-0007" in everything and "HD-2026-0008" in everything
    assert "2026-07-01" in everything and "20 dagar utan svar" in everything
    for query in ("overdue=1", "review=1", "state=incomplete", "q=karin", "q=0007"):
        listed = client.get(f"/cases?{query}").text
        assert "HD-2026-0007" in listed and "HD-2026-0008" not in listed, query
        assert "1 ärende<" in listed and "1 ärenden" not in listed, query  # singular for one
    assert "2 ärenden" in everything
    assert "Inga ärenden matchar" in client.get("/cases?track=aggregated").text
    assert client.get("/cases?page=x").status_code == 400 and "försök igen" in client.get("/cases?page=x").text
    assert "2026-07-01 12:00" in client.get("/cases/HD-2026-0007").text


def test_actions_through_the_proxy_need_the_csrf_token_too(tmp_path):
    config = _config(tmp_path, 'auth = "proxy"\ntrusted_proxies = ["127.0.0.1"]\n')
    ctx = open_context(config)
    ids = _seed(ctx, config)
    proxied = TestClient(create_app(config, ctx), client=("127.0.0.1", 5000), follow_redirects=False,
                         headers={"X-Remote-User": "erik"})
    token = _csrf(proxied.get("/cases/HD-2026-0007").text)
    assert proxied.post(f"/replies/{ids['reply']}/reject", data={"reason": "dubblett"}).status_code == 403
    done = proxied.post(f"/replies/{ids['reply']}/reject", data={"csrf": token, "reason": "dubblett"})
    assert done.status_code == 303
    [event] = _events(ctx, "outbox.reject")
    assert event.actor == "erik" and json.loads(event.detail)["reason"] == "dubblett"
    with session_scope(ctx.engine) as s:
        assert s.get(OutboxMail, ids["reply"]).status == "rejected"


def test_an_unexpected_error_shows_a_page_that_says_what_to_do(site, monkeypatch):
    from intake import actions

    def broken(*args, **kwargs):
        raise RuntimeError("Karin Nilsson 19121212-1212")  # what an error may carry never reaches the page

    client = _signed_in(site)
    config, ctx, _ = site
    token = _csrf(client.get("/cases/HD-2026-0007").text)
    monkeypatch.setattr(actions, "move_case", broken)
    crashing = TestClient(create_app(config, ctx), follow_redirects=False, raise_server_exceptions=False,
                          cookies=client.cookies)
    response = crashing.post("/cases/HD-2026-0007/state", data={"csrf": token, "state": "decided"})
    assert response.status_code == 500 and "kontakta en administratör" in response.text
    assert "Karin" not in response.text and "Traceback" not in response.text
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


def test_kind_change_and_state_moves_on_both_databases(tmp_path, store_url):
    from intake import actions
    from store.models import Finding
    config = _config(tmp_path, store_url=store_url)
    ctx = open_context(config)
    ids = _seed(ctx, config)
    with session_scope(ctx.engine) as s:
        result = actions.change_kind(s, config, "anna", ids["attachment"], "application_form")
        assert (result.state_before, result.case.state) == ("incomplete", "incomplete")
    with session_scope(ctx.engine) as s:
        current = s.exec(select(Finding).where(Finding.case_id == ids["case"], Finding.current == True)).all()  # noqa: E712
        assert len(current) == len({f.rule for f in current})  # one current finding per rule
        assert {f.rule: f.status for f in current}["application_form.present"] == "ok"
        assert s.get(Attachment, ids["attachment"]).kind_source == "coordinator"
        with pytest.raises(actions.ActionRefused, match="already application_form"):
            actions.change_kind(s, config, "anna", ids["attachment"], "application_form")
        with pytest.raises(actions.ActionRefused, match="unknown kind"):
            actions.change_kind(s, config, "anna", ids["attachment"], "love_letter")
    with session_scope(ctx.engine) as s:
        actions.move_case(s, "anna", ids["case"], "closed", "Återtagen av forskaren")
    with session_scope(ctx.engine) as s:
        assert s.get(Case, ids["case"]).closed_at is not None
        with pytest.raises(actions.ActionRefused):
            actions.move_case(s, "anna", ids["case"], "complete")  # the product's state, not a coordinator's
        kinds = [e.action for e in s.exec(select(AuditEvent).order_by(AuditEvent.id))]
    assert kinds == ["attachment.kind", "case.state"]


def test_editing_a_reply_in_the_browser_form_keeps_it_for_approval(tmp_path):
    config = _config(tmp_path)
    ctx = open_context(config)
    ids = _seed(ctx, config)
    client = _signed_in((config, ctx, ids))
    form = client.get(f"/replies/{ids['reply']}/edit")
    assert form.status_code == 200 and "Hej Karin" in form.text
    token = _csrf(form.text)
    subject = "[HD-2026-0007] Komplettering behövs"
    leaked = client.post(f"/replies/{ids['reply']}/edit", data={"csrf": token, "subject": subject,
                                                                 "body": "Gäller patient 19121212-1212\r\n"})
    assert leaked.status_code == 400 and "personnummer" in leaked.text
    untagged = client.post(f"/replies/{ids['reply']}/edit", data={"csrf": token, "subject": "Komplettering",
                                                                   "body": "Hej Karin\r\n"})
    assert untagged.status_code == 400 and "Behåll ärendetaggen [HD-2026-0007]" in untagged.text
    done = client.post(f"/replies/{ids['reply']}/edit", data={"csrf": token, "subject": subject,
                                                               "body": "Hej Karin,\r\n\r\nVi saknar beslutet.\r\n"})
    assert done.status_code == 303
    with session_scope(ctx.engine) as s:
        reply = s.get(OutboxMail, ids["reply"])
        assert (reply.status, reply.auto_submitted, reply.body) == (
            "pending_approval", False, "Hej Karin,\n\nVi saknar beslutet.\n")
    [event] = _events(ctx, "outbox.edit")
    assert event.actor == "anna" and json.loads(event.detail)["body_changed"] is True
