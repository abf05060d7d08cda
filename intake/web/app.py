"""The coordinators' web view: server-rendered pages over the store, every change through intake.actions."""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

import jinja2
from fastapi import Depends, FastAPI, Form, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import func, or_
from sqlmodel import Session, select
from starlette.exceptions import HTTPException as StarletteHTTPException

from intake import actions, pnr
from intake.config import Config
from intake.documents import KINDS
from intake.web import auth, i18n
from rules.registry import RULE_IDS, RULES
from store.blobs import BlobError, Missing, WrongKey
from store.db import session_scope
from store.models import Attachment, AuditEvent, Case, Finding, InboundMail, OutboxMail, UserAccount, utcnow

log = logging.getLogger("halsodata.web")
HERE = Path(__file__).resolve().parent
SWEDEN = ZoneInfo("Europe/Stockholm")
PAGE_SIZE = 50
INTERNAL = ("triage_summary", "digest")  # mail to the coordinators themselves
RULE_TEXT = {r.id: (r.description_sv, r.description_en) for r in RULES}

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; "
                               "object-src 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",  # pages hold sensitive personal data: never kept in a shared cache
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


class SignInNeeded(Exception):
    """No valid session (local sign-in) or the request did not come through the trusted proxy."""

    def __init__(self, reason: str = "signin"):
        self.reason = reason


@dataclass
class Viewer:
    username: str
    display_name: str
    language: str


def local_time(value: datetime | None, with_time: bool = True) -> str:
    if value is None:
        return "–"
    if value.tzinfo is None:  # SQLite hands back naive UTC
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(SWEDEN).strftime("%Y-%m-%d %H:%M" if with_time else "%Y-%m-%d")


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["local"] = local_time
    env.filters["date"] = lambda v: local_time(v, with_time=False)
    env.filters["masked"] = pnr.redact
    env.filters["size"] = lambda n: f"{n / 1024 / 1024:.1f} MB" if n >= 1024 * 1024 else f"{max(1, n // 1024)} kB"
    return env


def create_app(config: Config, context=None) -> FastAPI:
    """The application for `halsodata web`; `context` (engine, file store) is made from the config when not given."""
    if context is None:
        from intake.daemon import open_context
        context = open_context(config)
    engine, blobs = context.engine, context.blobs
    web = config.web
    sessions = auth.Sessions(web.secret(), web.session_hours * 3600)
    proxy = auth.ProxyTrust(web.proxy_header, web.trusted_proxies) if web.auth == "proxy" else None
    throttle = auth.Throttle()
    env = _environment()
    summary_module = _summary_module()

    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    # ---- session cookie and headers on every response -------------------------------------------------------

    @app.middleware("http")
    async def session_and_headers(request: Request, call_next):
        session = sessions.load(request.cookies.get(auth.COOKIE))
        fresh = session is None
        if fresh or (session.get("since") and time.time() - session["since"] > sessions.max_age):
            session, fresh = auth.Sessions.new(session.get("lang") if session else None), True
        request.state.session = session
        before = json.dumps(session, sort_keys=True)
        response = await call_next(request)
        if fresh or json.dumps(request.state.session, sort_keys=True) != before:
            response.set_cookie(auth.COOKIE, sessions.dump(request.state.session), max_age=sessions.max_age,
                                httponly=True, samesite="lax", secure=web.secure_cookies, path="/")
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    # ---- helpers ---------------------------------------------------------------------------------------------

    def db() -> Session:
        with session_scope(engine) as s:
            yield s

    # committed when the endpoint returns, before the response leaves: the next page sees the change
    DB = Depends(db, scope="function")

    def language(request: Request, viewer: Viewer | None = None) -> str:
        chosen = request.state.session.get("lang")
        if chosen in i18n.LANGUAGES:
            return chosen
        if viewer is not None and viewer.language in i18n.LANGUAGES:
            return viewer.language
        return web.language

    def peer(request: Request) -> str | None:
        return request.client.host if request.client else None

    def viewer_of(request: Request, s: Session = DB) -> Viewer:
        session = request.state.session
        if proxy is not None:
            name = proxy.user(peer(request), request.headers)
            if name is None:
                raise SignInNeeded("proxy")
            user = s.exec(select(UserAccount).where(UserAccount.username == name)).first()
            if user is None:  # the proxy signed the person in; the account keeps their language and history
                user = UserAccount(username=name, password_hash="", language=web.language)
                s.add(user)
            if not user.active:
                raise SignInNeeded("disabled")
            if session.get("user") != name:
                session.clear()
                session.update(auth.Sessions.new(), user=name, since=time.time(), lang=user.language)
                user.last_signin_at = utcnow()
                actions.audit(s, name, "signin", method="proxy")
            return Viewer(user.username, user.display_name, user.language)
        name = session.get("user")
        if not name:
            raise SignInNeeded()
        user = s.exec(select(UserAccount).where(UserAccount.username == name)).first()
        if user is None or not user.active or not user.password_hash:
            session.update(user=None)
            raise SignInNeeded("disabled" if user is not None and not user.active else "signin")
        return Viewer(user.username, user.display_name, user.language)

    VIEWER = Depends(viewer_of)

    def require_csrf(request: Request, csrf: str = Form("")) -> None:
        if not auth.csrf_ok(request.state.session, csrf):
            raise HTTPException(status_code=403, detail="csrf")

    def render(request: Request, template: str, viewer: Viewer | None, status: int = 200, **values) -> HTMLResponse:
        lang = language(request, viewer)

        def t(key: str, **fmt) -> str:
            text = i18n.pick(i18n.TEXT, key, lang)
            return text.format(**fmt) if fmt else text

        def label(table: str, key: str | None) -> str:
            return i18n.pick(getattr(i18n, table), key, lang)

        def rule_text(rule: str) -> str:
            pair = RULE_TEXT.get(rule)
            return (pair[0] if lang == "sv" else pair[1]) if pair else rule

        session = getattr(request.state, "session", None)
        if session is None:  # an error before the session was read: render with a throwaway one
            session = request.state.session = auth.Sessions.new()
        flash = session.pop("flash", None)
        html = env.get_template(template).render(
            request=request, viewer=viewer, lang=lang, t=t, label=label, rule_text=rule_text, flash=flash,
            csrf=session["csrf"], proxy_mode=proxy is not None, path=request.url.path,
            **values)
        return HTMLResponse(html, status_code=status)

    def flash(request: Request, text: str, kind: str = "ok") -> None:
        request.state.session["flash"] = {"kind": kind, "text": text}

    def back_to(number: str, anchor: str = "") -> RedirectResponse:
        return RedirectResponse(f"/cases/{quote(number)}{anchor}", status_code=303)

    def refused(request: Request, viewer: Viewer, exc: actions.ActionRefused) -> None:
        flash(request, exc.text(language(request, viewer)), "error")

    # ---- errors ----------------------------------------------------------------------------------------------

    @app.exception_handler(SignInNeeded)
    async def _signin(request: Request, exc: SignInNeeded):
        if exc.reason == "proxy":
            return render(request, "error.html", None, 403, heading_key="forbidden", message_key="proxy_only")
        if exc.reason == "disabled":
            return render(request, "error.html", None, 403, heading_key="forbidden", message_key="account_disabled")
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse("/login?" + urlencode({"next": target}), status_code=303)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException):
        if exc.detail == "csrf":
            return render(request, "error.html", None, 403, heading_key="forbidden", message_key="csrf_failed")
        if exc.status_code == 404:
            return render(request, "error.html", None, 404, heading_key="not_found", message_key="not_found_text")
        return render(request, "error.html", None, exc.status_code, heading_key="error", message_key="internal")

    @app.exception_handler(RequestValidationError)
    async def _bad_request(request: Request, exc: RequestValidationError):
        return render(request, "error.html", None, 400, heading_key="error", message_key="bad_request")

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):
        log.error("web request %s %s failed (%s)", request.method, request.url.path, type(exc).__name__)
        response = render(request, "error.html", None, 500, heading_key="error", message_key="internal")
        for name, value in SECURITY_HEADERS.items():  # this response does not pass through the middleware
            response.headers.setdefault(name, value)
        return response

    # ---- sign-in ---------------------------------------------------------------------------------------------

    @app.get("/login")
    def login_form(request: Request, next: str = "/cases"):
        if proxy is not None:
            return RedirectResponse("/cases", status_code=303)
        return render(request, "login.html", None, next=_safe_next(next), error=None, username="")

    @app.post("/login", dependencies=[Depends(require_csrf)])
    def login(request: Request, username: str = Form(""), password: str = Form(""), next: str = Form("/cases"),
              s: Session = DB):
        if proxy is not None:
            return RedirectResponse("/cases", status_code=303)
        username = username.strip()[:100]
        if throttle.blocked(username):
            actions.audit(s, username or "-", "signin.failed", reason="throttled", address=peer(request))
            return render(request, "login.html", None, 429, next=_safe_next(next), error="signin_throttled",
                          username=username)
        user = s.exec(select(UserAccount).where(UserAccount.username == username)).first() if username else None
        ok = auth.verify_password(user.password_hash if user is not None else None, password)
        if not ok or not user.active:
            throttle.failed(username)
            actions.audit(s, username or "-", "signin.failed",
                          reason="disabled" if ok else "wrong user name or password", address=peer(request))
            log.info("a sign-in to the web view failed")
            return render(request, "login.html", None, 401, next=_safe_next(next), error="signin_failed",
                          username=username)
        throttle.succeeded(username)
        if auth.needs_rehash(user.password_hash):
            user.password_hash = auth._hasher.hash(password)
        user.last_signin_at = utcnow()
        actions.audit(s, user.username, "signin", method="password", address=peer(request))
        session = request.state.session
        session.clear()  # a new CSRF token with every sign-in: nothing from before carries over
        session.update(auth.Sessions.new(), user=user.username, since=time.time(), lang=user.language)
        return RedirectResponse(_safe_next(next), status_code=303)

    @app.post("/logout", dependencies=[Depends(require_csrf)])
    def logout(request: Request, s: Session = DB):
        name = request.state.session.get("user")
        if name:
            actions.audit(s, name, "signout")
        lang = request.state.session.get("lang")
        request.state.session.clear()
        request.state.session.update(auth.Sessions.new(lang))
        return RedirectResponse("/login", status_code=303)

    @app.post("/language", dependencies=[Depends(require_csrf)])
    def switch_language(request: Request, lang: str = Form("sv"), next: str = Form("/cases"),
                        s: Session = DB):
        if lang not in i18n.LANGUAGES:
            lang = web.language
        request.state.session["lang"] = lang
        name = request.state.session.get("user")
        if name:
            user = s.exec(select(UserAccount).where(UserAccount.username == name)).first()
            if user is not None:
                user.language = lang  # the choice is the user's, on every device
        return RedirectResponse(_safe_next(next), status_code=303)

    # ---- the case list ---------------------------------------------------------------------------------------

    @app.get("/")
    def home():
        return RedirectResponse("/cases", status_code=303)

    @app.get("/cases")
    def case_list(request: Request, q: str = "", state: str = "", track: str = "", review: str = "",
                  overdue: str = "", page: int = 1, viewer: Viewer = VIEWER, s: Session = DB):
        query = select(Case)
        if state in actions.STATES:
            query = query.where(Case.state == state)
        if track in i18n.TRACKS:
            query = query.where(Case.track == track)
        if q.strip():
            like = f"%{q.strip().lower()}%"
            query = query.where(or_(func.lower(Case.number).like(like), func.lower(Case.researcher).like(like),
                                    func.lower(Case.researcher_name).like(like), func.lower(Case.title).like(like)))
        if review:
            query = query.where(Case.id.in_(select(Finding.case_id).where(Finding.current == True,  # noqa: E712
                                                                          Finding.status == "needs_review")))
        late = overdue_cases(s, config.reminders.after_days)
        if overdue:
            query = query.where(Case.id.in_(list(late) or [-1]))
        total = s.exec(select(func.count()).select_from(query.subquery())).one()
        pages = max(1, math.ceil(total / PAGE_SIZE))
        page = min(max(1, page), pages)
        cases = s.exec(query.order_by(Case.updated_at.desc(), Case.id.desc())
                       .offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)).all()
        ids = [c.id for c in cases]
        review_counts = dict(s.exec(select(Finding.case_id, func.count()).where(
            Finding.case_id.in_(ids), Finding.current == True, Finding.status == "needs_review")  # noqa: E712
            .group_by(Finding.case_id)).all()) if ids else {}
        waiting = dict(s.exec(select(OutboxMail.case_id, func.count()).where(
            OutboxMail.case_id.in_(ids), OutboxMail.status == "pending_approval").group_by(OutboxMail.case_id))
            .all()) if ids else {}
        filters = {"q": q, "state": state, "track": track, "review": review, "overdue": overdue}
        active = {k: v for k, v in filters.items() if v}
        return render(request, "cases.html", viewer, cases=cases, total=total, page=page, pages=pages,
                      filters=filters, states=actions.STATES, tracks=list(i18n.TRACKS), review_counts=review_counts,
                      waiting=waiting, late=late,
                      page_url=lambda p: "/cases?" + urlencode({**active, "page": p}))

    # ---- one case --------------------------------------------------------------------------------------------

    def case_by_number(s: Session, number: str) -> Case:
        case = s.exec(select(Case).where(func.upper(Case.number) == number.strip("[] ").upper())).first()
        if case is None:
            raise HTTPException(status_code=404)
        return case

    @app.get("/cases/{number}")
    def case_page(request: Request, number: str, viewer: Viewer = VIEWER, s: Session = DB):
        case = case_by_number(s, number)
        mails = s.exec(select(InboundMail).where(InboundMail.case_id == case.id).order_by(InboundMail.id)).all()
        attachments = s.exec(select(Attachment).where(Attachment.mail_id.in_([m.id for m in mails] or [-1]))
                             .order_by(Attachment.id)).all() if mails else []
        by_mail: dict[int, list[Attachment]] = {}
        for a in attachments:
            by_mail.setdefault(a.mail_id, []).append(a)
        everything = s.exec(select(OutboxMail).where(OutboxMail.case_id == case.id).order_by(OutboxMail.id)).all()
        # summaries to the coordinators are about the case, not part of the conversation with the researcher
        replies = [r for r in everything if r.type not in INTERNAL]
        internal = [r for r in everything if r.type in INTERNAL]
        order = {rule: i for i, rule in enumerate(RULE_IDS)}
        findings = sorted(s.exec(select(Finding).where(Finding.case_id == case.id,
                                                       Finding.current == True)).all(),  # noqa: E712
                          key=lambda f: order.get(f.rule, len(order)))
        timeline = sorted([("in", m.fetched_at, m) for m in mails]
                          + [("out", r.sent_at or r.queued_at, r) for r in replies],
                          key=lambda e: (_aware(e[1]), 0 if e[0] == "in" else 1))
        history = s.exec(select(AuditEvent).where(AuditEvent.case_id == case.id)
                         .order_by(AuditEvent.id.desc()).limit(30)).all()
        mail_dates = {m.id: m.fetched_at for m in mails}
        return render(request, "case.html", viewer, case=case, mails=mails, by_mail=by_mail,
                      attachments=attachments, mail_dates=mail_dates, replies=replies, internal=internal,
                      findings=[_finding_view(f) for f in findings], timeline=timeline,
                      history=[_event_view(e) for e in history], kinds=KINDS,
                      triage=_triage(summary_module, s, case, config),
                      targets=[st for st in actions.COORDINATOR_STATES if st != case.state]
                      + ([actions.AUTOMATIC] if case.state not in ("received", "incomplete", "complete") else []),
                      approvable=actions.APPROVABLE, rejectable=actions.REJECTABLE, editable=actions.EDITABLE,
                      late=overdue_cases(s, config.reminders.after_days).get(case.id))

    @app.get("/attachments/{attachment_id}/download")
    def download(request: Request, attachment_id: int, viewer: Viewer = VIEWER,
                 s: Session = DB):
        att = s.get(Attachment, attachment_id)
        if att is None:
            raise HTTPException(status_code=404)
        mail = s.get(InboundMail, att.mail_id)
        try:
            data = blobs.get(att.sha256)
        except BlobError as exc:
            log.error("a stored attachment could not be read: %s", exc)
            lang = language(request, viewer)
            why = "store_missing" if isinstance(exc, Missing) else "store_wrong_key" if isinstance(exc, WrongKey) \
                else "store_damaged"
            flash(request, i18n.pick(i18n.TEXT, "download_failed", lang)
                  .format(reason=i18n.pick(i18n.TEXT, why, lang)), "error")
            case = s.get(Case, mail.case_id) if mail and mail.case_id else None
            return back_to(case.number, "#documents") if case else RedirectResponse("/cases", status_code=303)
        actions.audit(s, viewer.username, "attachment.download", case_id=mail.case_id if mail else None,
                      target=f"attachment:{att.id}")
        return Response(data, media_type="application/octet-stream", headers={
            "Content-Disposition": _disposition(pnr.redact(att.filename)),
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
        })

    # ---- actions ---------------------------------------------------------------------------------------------

    def reply_case(s: Session, reply_id: int) -> Case:
        reply = s.get(OutboxMail, reply_id)
        if reply is None or reply.case_id is None:
            raise HTTPException(status_code=404)
        return s.get(Case, reply.case_id)

    @app.post("/replies/{reply_id}/approve", dependencies=[Depends(require_csrf)])
    def approve(request: Request, reply_id: int, viewer: Viewer = VIEWER, s: Session = DB):
        case = reply_case(s, reply_id)
        try:
            actions.approve_reply(s, viewer.username, reply_id)
            flash(request, i18n.pick(i18n.TEXT, "approved", language(request, viewer)))
        except actions.ActionRefused as exc:
            refused(request, viewer, exc)
        return back_to(case.number, f"#reply-{reply_id}")

    @app.post("/replies/{reply_id}/reject", dependencies=[Depends(require_csrf)])
    def reject(request: Request, reply_id: int, reason: str = Form(""), viewer: Viewer = VIEWER,
               s: Session = DB):
        case = reply_case(s, reply_id)
        try:
            actions.reject_reply(s, viewer.username, reply_id, reason)
            flash(request, i18n.pick(i18n.TEXT, "rejected", language(request, viewer)))
        except actions.ActionRefused as exc:
            refused(request, viewer, exc)
        return back_to(case.number, f"#reply-{reply_id}")

    @app.get("/replies/{reply_id}/edit")
    def edit_form(request: Request, reply_id: int, viewer: Viewer = VIEWER, s: Session = DB):
        case = reply_case(s, reply_id)
        reply = s.get(OutboxMail, reply_id)
        if reply.status not in actions.EDITABLE:
            return back_to(case.number, f"#reply-{reply_id}")
        return render(request, "reply_edit.html", viewer, case=case, reply=reply, subject=reply.subject,
                      body=reply.body, error=None)

    @app.post("/replies/{reply_id}/edit", dependencies=[Depends(require_csrf)])
    def edit(request: Request, reply_id: int, subject: str = Form(""), body: str = Form(""),
             viewer: Viewer = VIEWER, s: Session = DB):
        case = reply_case(s, reply_id)
        reply = s.get(OutboxMail, reply_id)
        new_body = body.replace("\r\n", "\n")
        try:
            actions.edit_reply(s, viewer.username, reply_id,
                               body=None if new_body.rstrip("\n") == reply.body.rstrip("\n") else new_body,
                               subject=None if subject.strip() == reply.subject else subject)
        except actions.ActionRefused as exc:
            return render(request, "reply_edit.html", viewer, 400, case=case, reply=reply, subject=subject,
                          body=new_body, error=exc.text(language(request, viewer)))
        flash(request, i18n.pick(i18n.TEXT, "edited", language(request, viewer)))
        return back_to(case.number, f"#reply-{reply_id}")

    @app.post("/attachments/{attachment_id}/kind", dependencies=[Depends(require_csrf)])
    def change_kind(request: Request, attachment_id: int, kind: str = Form(""),
                    viewer: Viewer = VIEWER, s: Session = DB):
        att = s.get(Attachment, attachment_id)
        mail = s.get(InboundMail, att.mail_id) if att is not None else None
        case = s.get(Case, mail.case_id) if mail is not None and mail.case_id else None
        if case is None:
            raise HTTPException(status_code=404)
        lang = language(request, viewer)
        try:
            result = actions.change_kind(s, config, viewer.username, attachment_id, kind)
        except actions.ActionRefused as exc:
            refused(request, viewer, exc)
            return back_to(case.number, "#documents")
        text = i18n.pick(i18n.TEXT, "kind_changed", lang).format(state=i18n.pick(i18n.STATES, result.case.state,
                                                                                  lang))
        if result.replies:
            text += " " + i18n.pick(i18n.TEXT, "kind_replies", lang).format(n=len(result.replies))
        flash(request, text)
        return back_to(case.number, "#documents")

    @app.post("/cases/{number}/state", dependencies=[Depends(require_csrf)])
    def move(request: Request, number: str, state: str = Form(""), note: str = Form(""),
             viewer: Viewer = VIEWER, s: Session = DB):
        case = case_by_number(s, number)
        lang = language(request, viewer)
        try:
            actions.move_case(s, viewer.username, case.id, state, note)
            flash(request, i18n.pick(i18n.TEXT, "state_changed", lang).format(
                state=i18n.pick(i18n.STATES, case.state, lang)))
        except actions.ActionRefused as exc:
            refused(request, viewer, exc)
        return back_to(case.number)

    # ---- the audit log ---------------------------------------------------------------------------------------

    @app.get("/audit")
    def audit_log(request: Request, page: int = 1, viewer: Viewer = VIEWER, s: Session = DB):
        total = s.exec(select(func.count()).select_from(AuditEvent)).one()
        pages = max(1, math.ceil(total / 100))
        page = min(max(1, page), pages)
        rows = s.exec(select(AuditEvent, Case.number).join(Case, isouter=True).order_by(AuditEvent.id.desc())
                      .offset((page - 1) * 100).limit(100)).all()
        return render(request, "audit.html", viewer, events=[(_event_view(e), number) for e, number in rows],
                      page=page, pages=pages, page_url=lambda p: f"/audit?page={p}")

    return app


# ---- pure helpers -------------------------------------------------------------------------------------------


def _aware(value: datetime | None) -> datetime:
    if value is None:
        return datetime.min.replace(tzinfo=timezone.utc)
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _safe_next(target: str) -> str:
    """Only a path on this site: never an open redirect to another host."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target or target.startswith("/login"):
        return "/cases"
    return target


def _disposition(filename: str) -> str:
    """Always a download, with the name kept (RFC 6266/5987) and an ASCII fallback without quotes or breaks."""
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\;' else "_" for c in filename) or "document"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def _finding_view(f: Finding) -> dict:
    try:
        evidence = json.loads(f.evidence or "[]")
    except ValueError:
        evidence = []
    return {"rule": f.rule, "status": f.status, "message_sv": f.message_sv, "message_en": f.message_en,
            "evidence": evidence if isinstance(evidence, list) else [], "since": f.created_at}


def _event_view(e: AuditEvent) -> dict:
    try:
        detail = json.loads(e.detail or "{}")
    except ValueError:
        detail = {}
    return {"at": e.at, "actor": e.actor, "action": e.action, "target": e.target,
            "detail": detail if isinstance(detail, dict) else {}}


def overdue_cases(s: Session, after_days: int, now: datetime | None = None) -> dict[int, int]:
    """Incomplete cases whose last request for supplement has gone unanswered for `after_days` or more: id -> days."""
    now = now or utcnow()
    requests = s.exec(select(OutboxMail.case_id, func.max(OutboxMail.sent_at)).join(Case).where(
        Case.state == "incomplete", OutboxMail.type == "supplement_request",
        OutboxMail.status.in_(("sent", "bounced"))).group_by(OutboxMail.case_id)).all()
    late = {}
    for case_id, sent_at in requests:
        if sent_at is None:
            continue
        days = (now - _aware(sent_at)).days
        if days < after_days:
            continue
        answered = s.exec(select(InboundMail.id).where(
            InboundMail.case_id == case_id, InboundMail.status == "processed",
            InboundMail.auto_generated == False, InboundMail.fetched_at > sent_at)).first()  # noqa: E712
        if answered is None:
            late[case_id] = days
    return late


def _summary_module():
    """The triage summary (outbox.summary), when this installation has it."""
    try:
        from outbox import summary
    except ImportError:
        return None
    return summary if hasattr(summary, "triage") else None


def _triage(module, s: Session, case: Case, config: Config):
    if module is None:
        return None
    try:
        return module.triage(s, case, config)
    except Exception as exc:  # the summary helps; the page must show without it
        log.warning("the triage summary of a case could not be made (%s)", type(exc).__name__)
        return None
