"""Loads and validates the TOML configuration, with HALSODATA_<SECTION>__<KEY> overrides from the environment."""

from __future__ import annotations

import os
import re
import tomllib
import types
import typing
from pathlib import Path
from typing import Literal

from pydantic import (BaseModel, ConfigDict, Field, PrivateAttr, SecretStr, ValidationError, field_validator,
                      model_validator)

from rules.base import RulesConfig

ENV_PREFIX = "HALSODATA_"
CONFIG_ENV = "HALSODATA_CONFIG"
DEFAULT_CONFIG = "halsodata.toml"

Security = Literal["tls", "starttls", "none"]
Auth = Literal["password", "xoauth2"]


class ConfigError(Exception):
    """The configuration cannot be used; the message names each key and how to fix it."""


def read_secret(key: str, file: Path | None, env: str | None, what: str) -> str | None:
    """A secret from `<key>_file` or `<key>_env`, read when needed so a rotated one is picked up; None if neither."""
    if file is not None:
        try:
            return file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"{key}_file: cannot read {file} ({exc.strerror}). Fix: point it at a readable file "
                              f"holding only {what}.") from exc
    if env is not None:
        value = os.environ.get(env)
        if value is None:
            raise ConfigError(f"{key}_env: the environment variable {env} is not set. Fix: export it before "
                              "starting halsodata.")
        return value
    return None


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


class _Credentials(_Section):
    username: str = ""
    password: SecretStr | None = None
    password_file: Path | None = None
    password_env: str | None = None
    auth: Auth = "password"

    @model_validator(mode="after")
    def _one_password_source(self):
        given = [k for k in ("password", "password_file", "password_env") if getattr(self, k) is not None]
        if len(given) > 1:
            raise ValueError(f"set only one of password, password_file, password_env (found {', '.join(given)})")
        if self.auth == "xoauth2":
            if given:
                raise ValueError(f"auth = \"xoauth2\" signs in with a token from [oauth], not a password: remove "
                                 f"{', '.join(given)}, or set auth = \"password\"")
            if not self.username:
                raise ValueError("auth = \"xoauth2\" needs username: the shared mailbox's address, "
                                 "e.g. halsodata@region.example")
            return self
        if self.username and not given:
            raise ValueError("username is set but no password: set password_file (recommended), "
                             "password_env or password")
        return self

    def secret(self, section: str) -> str:
        """The password, read at the moment it is needed so files and variables may change between runs."""
        if self.password is not None:
            return self.password.get_secret_value()
        value = read_secret(f"{section}.password", self.password_file, self.password_env, "the password")
        return value or ""


LOOPBACK = {"localhost", "127.0.0.1", "::1"}


class _Server(_Credentials):
    host: str = "localhost"
    security: Security = "tls"
    allow_plaintext: bool = False
    # The region's own CA certificates (PEM) to verify the server with, instead of the system's; None: the
    # system's trusted CAs. Verification of the certificate and the host name is always on.
    ca_file: Path | None = None
    # The [oauth] section, handed over by Config so a Mailbox or sender given only this section can sign in.
    _oauth: "OAuthConfig | None" = PrivateAttr(None)

    @property
    def oauth(self) -> "OAuthConfig":
        if self._oauth is None:
            raise ConfigError("auth = \"xoauth2\" needs the [oauth] section. Fix: add [oauth] with tenant_id, "
                              "client_id and client_secret_file (see config.example.toml).")
        return self._oauth

    @model_validator(mode="after")
    def _plaintext_only_on_loopback(self):
        if self.security == "none" and self.host not in LOOPBACK and not self.allow_plaintext:
            raise ValueError(f"security = \"none\" sends the password in clear text to {self.host}: use \"tls\" "
                             "or \"starttls\", or set allow_plaintext = true if this network is trusted")
        return self


class ImapConfig(_Server):
    host: str = "localhost"
    port: int = Field(993, ge=1, le=65535)
    security: Security = "tls"
    folder: str = "INBOX"
    processed_folder: str = "Processed"
    sent_folder: str = ""
    idle_timeout: int = Field(600, ge=10, le=1740, description="seconds before IDLE is re-issued")
    poll_interval: int = Field(60, ge=1, description="seconds between polls when the server has no IDLE")
    timeout: int = Field(60, ge=1, description="socket timeout in seconds")


class SmtpConfig(_Server):
    host: str = "localhost"
    port: int = Field(587, ge=1, le=65535)
    security: Security = "starttls"
    from_address: str = ""
    timeout: int = Field(60, ge=1)

    @model_validator(mode="after")
    def _from_needed(self):
        if "@" not in self.from_address:
            raise ValueError("from_address must be the shared mailbox's address, e.g. halsodata@region.example")
        return self


class OAuthConfig(_Section):
    """Microsoft Entra ID (Azure AD) client credentials for XOAUTH2 sign-in to a shared mailbox."""
    tenant_id: str = ""
    client_id: str = ""
    client_secret_file: Path | None = None
    client_secret_env: str | None = None
    scope: str = "https://outlook.office365.com/.default"
    authority: str = "https://login.microsoftonline.com"
    refresh_before: int = Field(300, ge=0, description="seconds before expiry a token is renewed")
    timeout: int = Field(30, ge=1, description="seconds for one request to the token endpoint")

    @model_validator(mode="after")
    def _secret_source(self):
        if self.client_secret_file is not None and self.client_secret_env is not None:
            raise ValueError("set only one of client_secret_file, client_secret_env")
        if not self.authority.startswith("https://"):
            raise ValueError("authority must be an https:// URL, e.g. https://login.microsoftonline.com")
        return self

    @property
    def configured(self) -> bool:
        return bool(self.tenant_id and self.client_id
                    and (self.client_secret_file is not None or self.client_secret_env is not None))

    @property
    def authority_url(self) -> str:
        return f"{self.authority.rstrip('/')}/{self.tenant_id}"

    def client_secret(self) -> str:
        """The client secret, read when a token is needed so a rotated secret is picked up."""
        value = read_secret("oauth.client_secret", self.client_secret_file, self.client_secret_env,
                            "the client secret")
        if value is not None:
            return value
        raise ConfigError("oauth: no client secret. Fix: set [oauth] client_secret_file (recommended) or "
                          "client_secret_env.")


class StoreConfig(_Section):
    url: str = "sqlite:///halsodata.db"
    files: Path = Path("halsodata-files")
    key_file: Path | None = None
    key_env: str | None = None

    @model_validator(mode="after")
    def _one_key(self):
        if self.key_file is not None and self.key_env is not None:
            raise ValueError("set only one of key_file, key_env")
        if self.key_file is None and self.key_env is None:
            raise ValueError("stored mail is encrypted at rest and needs a key: set key_file (create one with "
                             "`halsodata keygen --out /etc/halsodata/store.key`) or key_env")
        return self


class CasesConfig(_Section):
    number_format: str = "HD-{year}-{seq:04}"
    coordinators: list[str] = Field(default_factory=list)
    language: Literal["sv", "en"] = "sv"

    @model_validator(mode="after")
    def _format_usable(self):
        try:
            self.number_format.format(year=2026, seq=1)
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"number_format must use only {{year}} and {{seq}} fields ({exc})") from None
        if "{seq" not in self.number_format:
            raise ValueError("number_format must contain {seq} (e.g. HD-{year}-{seq:04})")
        return self


class OutboxConfig(_Section):
    require_approval: list[str] = Field(default_factory=list,
                                        description="reply types that wait for a coordinator's approval")

    @model_validator(mode="after")
    def _known_types(self):
        from outbox.compose import REPLY_TYPES
        unknown = [t for t in self.require_approval if t not in REPLY_TYPES]
        if unknown:
            raise ValueError(f"require_approval: unknown reply type(s) {', '.join(unknown)}; known: "
                             f"{', '.join(REPLY_TYPES)}")
        return self


class RemindersConfig(_Section):
    after_days: int = Field(14, ge=1, description="days without an answer before each reminder")
    max_reminders: int = Field(2, ge=0)
    escalate_after_days: int = Field(14, ge=1, description="days after the last reminder before escalating")
    check_minutes: int = Field(60, ge=1, description="how often the daemon looks for due reminders")


class CoordinatorsConfig(_Section):
    """Mail to the coordinators: a triage summary when a case is opened or changes, and a daily digest."""
    addresses: list[str] = Field(default_factory=list, description="where summaries and the digest go; empty: none")
    summary_events: list[Literal["opened", "changed"]] = Field(default_factory=lambda: ["opened", "changed"])
    language: Literal["sv", "en"] = "sv"
    digest: bool = True
    digest_time: str = Field("07:00", description="HH:MM, Swedish time")

    @field_validator("addresses")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        bad = [a for a in value if "@" not in a or any(c in a for c in ",\r\n")]
        if bad:
            raise ValueError("each address must be one mail address, e.g. [\"halsodata-handlaggare@region.example\"]")
        return value

    @field_validator("digest_time")
    @classmethod
    def _time(cls, value: str) -> str:
        if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", value):
            raise ValueError("digest_time must be HH:MM in Swedish time, e.g. \"07:00\"")
        return value


class RetentionConfig(_Section):
    """How long the content of closed cases is kept. The case register row (number, dates, state, researcher,
    project) stays; mails, attachments, bodies, evidence and reply texts are deleted."""
    # 0: never purge. Set it from the region's records-management plan (dokumenthanteringsplan): the archive
    # law decides how long public records are kept, not this program.
    purge_closed_after_days: int = Field(0, ge=0, description="days after closing; 0 keeps everything")
    purge_caseless_after_days: int = Field(0, ge=0, description="days after intake for mail that joined no case "
                                           "(automatic mail, mail that could not be read); 0 keeps it")
    check_hours: int = Field(24, ge=1, description="how often the daemon looks for cases and mails to purge")

    @property
    def enabled(self) -> bool:
        return bool(self.purge_closed_after_days or self.purge_caseless_after_days)


class LimitsConfig(_Section):
    """What one mail may cost; beyond each limit the part is recorded as a problem (a finding on the case)."""
    max_message_bytes: int = Field(50 * 1024 * 1024, ge=1024, description="larger mail stays in the folder, "
                                   "recorded with its header only, for a person")
    max_attachment_bytes: int = Field(50 * 1024 * 1024, ge=1024, description="one file, after unpacking")
    max_total_bytes: int = Field(200 * 1024 * 1024, ge=1024, description="all files of one mail, unpacked")
    max_files: int = Field(200, ge=1, description="files in one mail, archives included")
    max_depth: int = Field(5, ge=1, le=20, description="wrappers inside wrappers: forwards, zip, winmail.dat")
    max_mime_nesting: int = Field(50, ge=2, le=200, description="multiparts inside multiparts")
    max_archive_ratio: int = Field(100, ge=2, description="unpacked / packed size of an archive (zip bombs)")
    max_archive_members: int = Field(500, ge=1)
    max_pages: int = Field(50, ge=1, description="pages read of one document")
    max_ocr_pages: int = Field(5, ge=0, description="scanned pages read with OCR per document")
    read_timeout: int = Field(60, ge=1, description="seconds to read one file")
    read_memory_mb: int = Field(1024, ge=128, description="memory cap of the process reading one file")
    mail_timeout: int = Field(900, ge=1, description="seconds the daemon waits for one mail to be prepared (parse, "
                              "unpack, read every file); beyond it the mail is failed and left in the mailbox")

    @model_validator(mode="after")
    def _mail_after_file(self):
        if self.mail_timeout < self.read_timeout:
            raise ValueError(f"mail_timeout ({self.mail_timeout} s) must be at least read_timeout "
                             f"({self.read_timeout} s): a mail holds at least one file")
        return self

    def unpack_limits(self):
        from intake.unpack import UnpackLimits
        return UnpackLimits(max_depth=self.max_depth, max_files=self.max_files,
                            max_file_bytes=self.max_attachment_bytes, max_total_bytes=self.max_total_bytes,
                            max_zip_ratio=self.max_archive_ratio, max_zip_members=self.max_archive_members,
                            max_mime_nesting=self.max_mime_nesting)

    def read_limits(self):
        from intake.readers.limits import ReadLimits
        return ReadLimits(max_pages=self.max_pages, max_ocr_pages=self.max_ocr_pages, timeout=self.read_timeout,
                          ocr_timeout=min(60, self.read_timeout), memory_mb=self.read_memory_mb)


class MetricsConfig(_Section):
    """The daemon's Prometheus metrics (/metrics) and health (/health) endpoint."""
    enabled: bool = False
    listen: str = "127.0.0.1:9464"
    stall_after: int = Field(1800, ge=10, description="seconds without a successful poll, or an unprocessed "
                                                      "mail waiting, before /health answers 503")

    @model_validator(mode="after")
    def _listen_address(self):
        self.address  # noqa: B018 - raises with the fix when listen is not HOST:PORT
        return self

    @property
    def address(self) -> tuple[str, int]:
        host, sep, port = self.listen.rpartition(":")
        host = host.strip("[]")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"listen must be HOST:PORT, e.g. 127.0.0.1:9464 or [::1]:9464 (got {self.listen!r})")
        return host, int(port)


class LogConfig(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["text", "json"] = "text"


class WebConfig(_Section):
    """The coordinators' web view (`halsodata web`): where it listens, how people sign in, the session cookie."""
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    # "local": accounts made with `halsodata users add`; "proxy": a reverse proxy that has signed the person in
    # passes the user name in proxy_header, honoured only from trusted_proxies.
    auth: Literal["local", "proxy"] = "local"
    proxy_header: str = "X-Remote-User"
    trusted_proxies: list[str] = Field(default_factory=list, description="addresses or networks (CIDR)")
    secret_file: Path | None = None
    secret_env: str | None = None
    secure_cookies: bool = True
    session_hours: int = Field(10, ge=1, le=24 * 14)
    language: Literal["sv", "en"] = "sv"

    @model_validator(mode="after")
    def _usable(self):
        import ipaddress
        if self.secret_file is not None and self.secret_env is not None:
            raise ValueError("set only one of secret_file, secret_env")
        for net in self.trusted_proxies:
            try:
                ipaddress.ip_network(net, strict=False)
            except ValueError:
                raise ValueError(f"trusted_proxies: {net!r} is not an IP address or network (e.g. 127.0.0.1 or "
                                 "10.0.0.0/24)") from None
        if self.auth == "proxy" and not self.trusted_proxies:
            raise ValueError("auth = \"proxy\" needs trusted_proxies: the reverse proxy's address(es), so nobody "
                             "else can claim a user name by sending the header")
        if not re.fullmatch(r"[A-Za-z0-9-]+", self.proxy_header):
            raise ValueError("proxy_header must be a header name such as X-Remote-User")
        return self

    def secret(self) -> str:
        """The key that signs session cookies, read at start-up."""
        value = read_secret("web.secret", self.secret_file, self.secret_env, "the session secret")
        if not value:
            raise ConfigError("web: no session secret. Fix: create one with `halsodata keygen --out "
                              "/etc/halsodata/web.secret` and set [web] secret_file to it (or secret_env).")
        if len(value) < 16:
            raise ConfigError("web: the session secret is shorter than 16 characters. Fix: create one with "
                              "`halsodata keygen --out FILE`.")
        return value


class Config(_Section):
    imap: ImapConfig = Field(default_factory=ImapConfig)
    smtp: SmtpConfig
    store: StoreConfig
    cases: CasesConfig = Field(default_factory=CasesConfig)
    rules: RulesConfig = Field(default_factory=RulesConfig)
    outbox: OutboxConfig = Field(default_factory=OutboxConfig)
    reminders: RemindersConfig = Field(default_factory=RemindersConfig)
    coordinators: CoordinatorsConfig = Field(default_factory=CoordinatorsConfig)
    retention: RetentionConfig = Field(default_factory=RetentionConfig)
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    log: LogConfig = Field(default_factory=LogConfig)
    oauth: OAuthConfig = Field(default_factory=OAuthConfig)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    web: WebConfig = Field(default_factory=WebConfig)
    source: Path | None = Field(None, exclude=True)

    @model_validator(mode="after")
    def _oauth_for_xoauth2(self):
        users = [name for name in ("imap", "smtp") if getattr(self, name).auth == "xoauth2"]
        if users and not self.oauth.configured:
            raise ValueError(f"{' and '.join(f'[{u}]' for u in users)} auth = \"xoauth2\" needs [oauth] tenant_id, "
                             "client_id and client_secret_file (or client_secret_env)")
        for name in ("imap", "smtp"):
            getattr(self, name)._oauth = self.oauth
        return self

    @model_validator(mode="after")
    def _stall_after_longer_than_a_wait(self):
        # The daemon reads the mailbox at least once per IDLE period (or poll interval); a shorter threshold
        # would call a healthy, idle daemon stalled.
        longest = max(self.imap.idle_timeout, self.imap.poll_interval)
        if self.metrics.stall_after <= longest:
            raise ValueError(f"[metrics] stall_after ({self.metrics.stall_after} s) must be longer than [imap] "
                             f"idle_timeout and poll_interval ({longest} s): the daemon reads the mailbox only "
                             f"that often while no mail arrives. Fix: set stall_after to at least {longest * 2}")
        return self


def _is_text(annotation) -> bool:
    """True for fields whose environment value should be taken verbatim rather than as a TOML value."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        rest = [a for a in typing.get_args(annotation) if a is not type(None)]
        return bool(rest) and all(_is_text(a) for a in rest)
    return annotation in (str, SecretStr, Path)


def _env_overrides(data: dict, environ: typing.Mapping[str, str]) -> dict:
    sections = Config.model_fields
    for name, raw in environ.items():
        # Only HALSODATA_<SECTION>__<KEY> names are configuration; others (HALSODATA_STORE_KEY as a
        # key_env, HALSODATA_CONFIG) belong to the operator.
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        section, _, key = name[len(ENV_PREFIX):].lower().partition("__")
        section_model = sections.get(section)
        if section_model is None or section == "source":
            raise ConfigError(f"{name}: not a configuration key. Fix: use HALSODATA_<SECTION>__<KEY> with a "
                              f"section of {', '.join(s for s in sections if s != 'source')}, or unset it.")
        fields = typing.get_args(section_model.annotation) or (section_model.annotation,)
        model = next(f for f in fields if isinstance(f, type) and issubclass(f, BaseModel))
        field = model.model_fields.get(key)
        if field is None:
            raise ConfigError(f"{name}: [{section}] has no key '{key}'. Fix: see config.example.toml for the "
                              "keys, or unset it.")
        if _is_text(field.annotation):
            value = raw
        else:
            try:
                value = tomllib.loads(f"v = {raw}")["v"]
            except tomllib.TOMLDecodeError:
                value = raw
        data.setdefault(section, {})[key] = value
    return data


def _describe(err) -> str:
    key = ".".join(str(p) for p in err["loc"])
    msg = err["msg"].removeprefix("Value error, ")
    if not key:  # a check across sections names its keys itself
        return f"{msg}."
    if err["type"] == "extra_forbidden":
        return f"{key}: unknown key. Fix: remove it or check its spelling against config.example.toml."
    if err["type"] == "missing":
        return f"{key}: required but not set. Fix: add it (see config.example.toml)."
    if err["type"] == "value_error" or re.search(r"password|url|key", key):
        return f"{key}: {msg}."  # never echo a value that may be a secret
    return f"{key}: {msg} (got {err.get('input')!r}). Fix: see config.example.toml for the expected value."


def config_path(explicit: str | os.PathLike | None, environ: typing.Mapping[str, str] = os.environ) -> Path:
    if explicit:
        return Path(explicit)
    if environ.get(CONFIG_ENV):
        return Path(environ[CONFIG_ENV])
    return Path(DEFAULT_CONFIG)


def load(explicit: str | os.PathLike | None = None, environ: typing.Mapping[str, str] = os.environ) -> Config:
    """Read the configuration file, apply environment overrides and validate; raise ConfigError naming each problem."""
    path = config_path(explicit, environ)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"configuration file {path} not found. Fix: copy config.example.toml to {path} and "
                          f"edit it, or pass --config PATH or set {CONFIG_ENV}.") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc}). Fix the line it names.") from None
    data = _env_overrides(data, environ)
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        from_env = {tuple(k.lower().removeprefix(ENV_PREFIX.lower()).split("__")): k for k in environ
                     if k.startswith(ENV_PREFIX) and "__" in k}
        problems = "\n  ".join(_describe(e) + (f" (set by {from_env[tuple(map(str, e['loc'][:2]))]})"
                                                if tuple(map(str, e["loc"][:2])) in from_env else "")
                                for e in exc.errors())
        raise ConfigError(f"{path}: the configuration has problems:\n  {problems}") from None
    base = path.resolve().parent
    # Relative paths in the file mean "next to the file", so the daemon works from any working directory.
    if not config.store.files.is_absolute():
        config.store.files = base / config.store.files
    if config.store.key_file is not None and not config.store.key_file.is_absolute():
        config.store.key_file = base / config.store.key_file
    for section in (config.imap, config.smtp):
        if section.password_file is not None and not section.password_file.is_absolute():
            section.password_file = base / section.password_file
        if section.ca_file is not None and not section.ca_file.is_absolute():
            section.ca_file = base / section.ca_file
    if config.oauth.client_secret_file is not None and not config.oauth.client_secret_file.is_absolute():
        config.oauth.client_secret_file = base / config.oauth.client_secret_file
    if config.web.secret_file is not None and not config.web.secret_file.is_absolute():
        config.web.secret_file = base / config.web.secret_file
    if config.store.url.startswith("sqlite:///") and not config.store.url.startswith("sqlite:////"):
        rel = config.store.url.removeprefix("sqlite:///")
        if rel and rel != ":memory:":
            config.store.url = f"sqlite:///{base / rel}"
    config.source = path
    return config
