"""TLS for the IMAP and SMTP clients: one way to build the context, one way to explain its failures."""

from __future__ import annotations

import ssl
from intake.config import _Server


class TlsSetupError(Exception):
    """The TLS settings themselves cannot be used (e.g. an unreadable ca_file); the text names the key."""


def client_context(cfg: _Server, section: str) -> ssl.SSLContext | None:
    """A verifying client context for `security = "tls"|"starttls"`, or None for "none".

    Certificate and host-name verification are always on. With `ca_file` the server must chain to the
    CAs in that file (the region's own CA); without it, to the system's trusted CAs.
    """
    if cfg.security == "none":
        return None
    cafile = str(cfg.ca_file) if cfg.ca_file is not None else None
    try:
        context = ssl.create_default_context(cafile=cafile)
    except (OSError, ssl.SSLError) as exc:
        reason = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or str(exc)
        raise TlsSetupError(f"[{section}] ca_file = {str(cfg.ca_file)!r} cannot be used ({reason}). Fix: point "
                            "it at a readable PEM file with the CA certificate(s) that signed the server's "
                            "certificate.") from None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def certificate_error(exc: BaseException | None) -> ssl.SSLCertVerificationError | None:
    """The certificate-verification failure in `exc` or its causes/contexts, if there is one."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, ssl.SSLCertVerificationError):
            return exc
        for arg in getattr(exc, "args", ()):
            if isinstance(arg, ssl.SSLCertVerificationError):
                return arg
        exc = exc.__cause__ or exc.__context__
    return None


def explain_certificate_error(err: ssl.SSLCertVerificationError, cfg: _Server, section: str, what: str) -> str:
    """One sentence with the reason and the key to fix, e.g. for MailboxUnavailable / SmtpUnavailable."""
    where = f"{cfg.host}:{cfg.port}"
    reason = err.verify_message or err.reason or str(err)
    if err.verify_code == 62 or "hostname" in reason.lower() or "ip address mismatch" in reason.lower():
        return (f"the {what} server {where} presented a certificate that is not for {cfg.host!r} ({reason}). "
                f"Fix: set [{section}] host to a name the certificate is issued for.")
    trusted = (f"the CA file [{section}] ca_file = {str(cfg.ca_file)!r}" if cfg.ca_file is not None
               else "the system's trusted CAs")
    return (f"the {what} server {where} presented a certificate that could not be verified against {trusted} "
            f"({reason}). Fix: set [{section}] ca_file to the PEM file of the CA that signed the server's "
            "certificate (the region's own CA), or check that the server presents the right certificate.")
