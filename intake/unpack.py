"""Takes a raw mail apart into every document it carries, however wrapped, within limits, and never raises."""

from __future__ import annotations

import base64
import binascii
import io
import logging
import mimetypes
import quopri
import re
import unicodedata
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from email.header import decode_header, make_header
from email.message import Message
from email.policy import Compat32
from typing import Callable

import extract_msg
import tnefparse
from asn1crypto import cms
from extract_msg.msg_classes import MSGFile

from intake.documents import FileItem, Problem, Unpacked
from intake.parse import TooManyParts, decoded_payload, message_from_bytes, safe_filename
from store.blobs import BlobError

# These libraries log what they read (names, subjects, bodies); that is personal data and stays out of our logs.
for _name in ("extract_msg", "tnefparse", "olefile", "RTFDE", "compressed_rtf"):
    logging.getLogger(_name).setLevel(logging.CRITICAL)

MB = 1024 * 1024


@dataclass(frozen=True)
class UnpackLimits:
    """How far and how much one mail may be unpacked; beyond these a Problem is recorded instead."""

    max_depth: int = 5  # wrappers inside wrappers: forwards, archives, winmail.dat, .msg, S/MIME
    max_files: int = 200
    max_file_bytes: int = 50 * MB
    max_total_bytes: int = 200 * MB
    max_zip_ratio: int = 100  # uncompressed / compressed size of a whole archive
    max_zip_members: int = 500
    max_mime_nesting: int = 50  # multiparts inside multiparts; keeps our own recursion far from Python's limit


class _RawHeaders(Compat32):
    """compat32, but header values keep raw 8-bit bytes (as surrogates) so non-MIME names decode as UTF-8, not '?'."""

    def header_fetch_parse(self, name, value):
        return value


_POLICY = _RawHeaders()

# Archives smaller than this cannot hurt, whatever their ratio; a small CSV often compresses more than 100x.
_ZIP_RATIO_FLOOR = 1 * MB
# Inline images with a Content-ID below this size are logos in e-mail signatures, not documents.
_LOGO_BYTES = 20 * 1024

# Content types that say what a file is, whatever its name.
_WRAPPER_BY_TYPE = {
    "message/rfc822": "mail",
    "message/global": "mail",
    "application/vnd.ms-outlook": "outlook",
    "application/ms-tnef": "tnef",
    "application/vnd.ms-tnef": "tnef",
    "application/pkcs7-mime": "smime",
    "application/x-pkcs7-mime": "smime",
    "application/pkcs7-signature": "signature",
    "application/x-pkcs7-signature": "signature",
    "application/pgp-signature": "signature",
}
_WRAPPER_BY_EXTENSION = {".eml": "mail", ".msg": "outlook", ".p7m": "smime", ".p7s": "signature", ".zip": "zip"}
# Zip content types are trusted only without an extension: .docx and .xlsx are zip files too and are documents.
_ZIP_TYPES = {"application/zip", "application/x-zip-compressed", "application/x-zip"}

_ENCRYPTED_CMS = {"enveloped_data", "authenticated_enveloped_data", "encrypted_data"}
_OCTETS = "application/octet-stream"
_UU_BEGIN = re.compile(rb"^begin [0-7]{3,4} (.+)$")


@dataclass
class _Walk:
    """What one unpacking has found so far, and how much of the limits it has used."""

    limits: UnpackLimits
    out: Unpacked = field(default_factory=Unpacked)
    total_bytes: int = 0
    unnamed: int = 0
    full: bool = False  # max_files or max_total_bytes reached; a Problem says so once, the rest is not taken

    def problem(self, filename: str, reason: str, container: str | None) -> None:
        self.out.problems.append(Problem(filename=filename, reason=reason, container=container))

    def fallback_name(self, content_type: str) -> str:
        self.unnamed += 1
        return f"attachment-{self.unnamed}{mimetypes.guess_extension(content_type) or '.bin'}"

    def keep(self, name: str, content_type: str, data: bytes, container: str | None) -> None:
        """Add one document, unless it breaks a size or count limit."""
        limits = self.limits
        if len(data) > limits.max_file_bytes:
            self.problem(name, f"file larger than {_size(limits.max_file_bytes)}", container)
        elif len(self.out.files) >= limits.max_files:
            self.full = True
            self.problem(name, f"more than {limits.max_files} files in the mail; the rest were not taken out",
                         container)
        elif self.total_bytes + len(data) > limits.max_total_bytes:
            self.full = True
            self.problem(name, f"more than {_size(limits.max_total_bytes)} of files in the mail;"
                               " the rest were not taken out", container)
        else:
            self.total_bytes += len(data)
            self.out.files.append(FileItem(filename=name, content_type=content_type, data=data, container=container))


def unpack(raw: bytes | Iterable[bytes], limits: UnpackLimits = UnpackLimits()) -> Unpacked:
    """Every document in the raw mail (whole or in pieces), in the order they appear, with what could not be taken
    apart. Nothing in the mail makes it raise; a stored mail that cannot be read (BlobError, OSError) does."""
    walk = _Walk(limits)
    try:
        message = message_from_bytes(raw, policy=_POLICY)
    except (BlobError, OSError):
        raise
    except RecursionError:
        walk.problem("message", "MIME structure nested too deeply to read", None)
        return walk.out
    except TooManyParts as exc:
        walk.problem("message", f"not read: it has {exc}", None)
        return walk.out
    except Exception as exc:  # the stdlib parser is lenient, but hostile input has broken it before
        walk.problem("message", f"could not be parsed ({type(exc).__name__})", None)
        return walk.out
    _part(walk, message, None, depth=0, nesting=0)
    return walk.out


# --- MIME parts ---------------------------------------------------------------------------------------------------

def _part(walk: _Walk, part: Message, container: str | None, depth: int, nesting: int) -> None:
    """Route one MIME part: a forward, an encrypted or multipart body, the mail's own text, or a file."""
    if walk.full:
        return
    name = None
    try:
        name = _part_filename(part)
        content_type = part.get_content_type()
        if nesting > walk.limits.max_mime_nesting:
            walk.problem(name or content_type, f"MIME parts nested deeper than {walk.limits.max_mime_nesting}",
                         container)
        elif content_type in ("message/rfc822", "message/global"):
            _forwarded(walk, part, name, container, depth, nesting)
        elif content_type == "multipart/encrypted" or str(part.get_param("smime-type", "")).lower() in (
                "enveloped-data", "authenveloped-data"):
            walk.problem(name or content_type, _encrypted_reason(part), container)
        elif part.is_multipart():
            for child in part.get_payload():
                _part(walk, child, container, depth, nesting + 1)
        elif _is_body(part, name):
            _uudecoded(walk, _payload(part), container, depth)
        else:
            data = _payload(part)
            if not _is_logo(part, data):
                _file(walk, name or walk.fallback_name(content_type), content_type, data, container, depth)
    except RecursionError:
        walk.problem(name or "part", "nested too deeply to read", container)
    except Exception as exc:  # one broken part must not cost the others
        walk.problem(name or "part", f"could not be taken apart ({type(exc).__name__})", container)


def _forwarded(walk: _Walk, part: Message, name: str | None, container: str | None, depth: int,
               nesting: int) -> None:
    """A message/rfc822 part: the forwarded mail is walked like the outer one, one level deeper."""
    payload = part.get_payload()
    inner = payload[0] if isinstance(payload, list) and payload else None
    encoding = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
    if isinstance(inner, Message) and (encoding == "quoted-printable" or encoding == "base64" and not inner.keys()):
        # Not allowed (RFC 2046 5.2.1), but sent: the stdlib took the encoded text for the mail. Decoded, it is an
        # attached .eml. Before, such a forward and everything in it was dropped without a word.
        _file(walk, name or "forwarded.eml", "message/rfc822", _decoded_forward(inner, encoding), container, depth)
        return
    if not isinstance(inner, Message):
        walk.problem(name or "forwarded message", "forwarded message is empty or broken", container)
        return
    label = name or _forward_label(_header(inner, "Subject"))
    if not _too_deep(walk, label, container, depth):
        _part(walk, inner, label, depth + 1, nesting + 1)


def _decoded_forward(inner: Message, encoding: str) -> bytes:
    """The forwarded mail's bytes from the text the stdlib parsed as a mail (its header lines, if it found any, and
    its body), transfer-decoded; base64 leniently, as for any other part."""
    payload = inner.get_payload()
    text = payload if not inner.keys() and isinstance(payload, str) else inner.as_string()
    raw = text.encode("utf-8", "surrogateescape")
    if encoding == "quoted-printable":
        return quopri.decodestring(raw)
    try:
        return binascii.a2b_base64(raw)
    except binascii.Error:  # bad padding: what decodes, as email does
        clean = re.sub(rb"[^A-Za-z0-9+/]", b"", raw)
        return binascii.a2b_base64(clean[:len(clean) // 4 * 4])


def _forward_label(subject: str | None) -> str:
    return _clean("Fwd: " + (" ".join(str(subject or "").split()) or "(no subject)"))


def _part_filename(part: Message) -> str | None:
    """The part's file name as readable text: RFC 2231 joined, RFC 2047 decoded, 8-bit read as UTF-8; made safe."""
    try:
        raw = part.get_filename()  # also falls back to Content-Type name=, and joins RFC 2231 continuations
    except Exception:  # a parameter the stdlib cannot split is as good as absent
        return None
    if not raw:
        return None
    return safe_filename(_readable(str(raw)), "") or None


def _is_body(part: Message, name: str | None) -> bool:
    """Text without a file name that is not marked as an attachment is the mail's own text, not a document.

    A multipart whose boundary never occurs stays one block of text, and so is the mail's text too.
    """
    return (part.get_content_maintype() in ("text", "multipart", "message") and not name
            and part.get_content_disposition() != "attachment")


def _is_logo(part: Message, data: bytes) -> bool:
    """A tiny inline image with a Content-ID: an e-mail signature logo. Attachments are kept whatever their size."""
    return (part.get_content_maintype() == "image" and bool(part.get("Content-ID")) and len(data) < _LOGO_BYTES
            and part.get_content_disposition() != "attachment")


def _payload(part: Message) -> bytes:
    return decoded_payload(part)


def _encrypted_reason(part: Message) -> str:
    if part.get_content_type() == "multipart/encrypted" and "pgp" in str(part.get_param("protocol", "")).lower():
        return "encrypted OpenPGP message, cannot be read"
    return "encrypted S/MIME message, cannot be read"


# --- files, and the wrappers that hide more files -------------------------------------------------------------------

def _file(walk: _Walk, name: str, content_type: str, data: bytes, container: str | None, depth: int) -> None:
    """Open a file if it is a wrapper (mail, archive, winmail.dat, .msg, S/MIME), else keep it as a document."""
    if walk.full:
        return
    kind = _wrapper_kind(name, content_type)
    if kind is None:
        walk.keep(name, content_type, data, container)
    elif kind == "signature":
        walk.out.signatures.append(_signature_label(data, name))
    elif not _too_deep(walk, name, container, depth):
        try:
            _OPENERS[kind](walk, name, data, container, depth)
        except RecursionError:
            walk.problem(name, "nested too deeply to read", container)
        except TooManyParts as exc:
            walk.problem(name, f"{_WHAT[kind]} not read: it has {exc}", container)
        except Exception as exc:  # the parsers below raise many types on corrupt input
            walk.problem(name, f"{_WHAT[kind]} cannot be read ({type(exc).__name__})", container)


def _wrapper_kind(name: str, content_type: str) -> str | None:
    extension = ("." + name.rsplit(".", 1)[1].lower()) if "." in name else ""
    if name.lower() == "winmail.dat":
        return "tnef"
    if content_type in _WRAPPER_BY_TYPE:
        return _WRAPPER_BY_TYPE[content_type]
    if extension in _WRAPPER_BY_EXTENSION:
        return _WRAPPER_BY_EXTENSION[extension]
    if content_type in _ZIP_TYPES and extension in ("", ".bin", ".dat"):
        return "zip"
    return None


def _too_deep(walk: _Walk, name: str, container: str | None, depth: int) -> bool:
    """True, with a Problem, when opening one more wrapper would go past max_depth."""
    if depth + 1 > walk.limits.max_depth:
        walk.problem(name, f"nested deeper than {walk.limits.max_depth} levels", container)
        return True
    return False


def _open_mail(walk: _Walk, name: str, data: bytes, container: str | None, depth: int) -> None:
    """An attached .eml: walked as a forwarded mail; bytes without any header stay a plain file."""
    message = message_from_bytes(data, policy=_POLICY)
    if not message.keys():
        walk.keep(name, "application/octet-stream", data, container)
        return
    _part(walk, message, name, depth + 1, nesting=0)


def _open_zip(walk: _Walk, name: str, data: bytes, container: str | None, depth: int) -> None:
    """A zip archive, checked as a whole against the limits before any member is read."""
    limits = walk.limits
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        members = [m for m in archive.infolist() if not m.is_dir()]
        expanded = sum(m.file_size for m in members)  # zipfile never returns more than these declared sizes
        if len(members) > limits.max_zip_members:
            walk.problem(name, f"archive holds more than {limits.max_zip_members} files", container)
        elif expanded > _ZIP_RATIO_FLOOR and expanded > limits.max_zip_ratio * max(len(data), 1):
            walk.problem(name, f"zip bomb: expands more than {limits.max_zip_ratio}x", container)
        elif walk.total_bytes + expanded > limits.max_total_bytes:
            walk.problem(name, f"archive expands beyond {_size(limits.max_total_bytes)}", container)
        else:
            for member in members:
                _zip_member(walk, archive, member, name, depth)


def _macos_metadata(path: str) -> bool:
    """macOS's Finder puts resource forks in __MACOSX/ and ._name files: metadata, never a document."""
    parts = path.replace("\\", "/").split("/")
    return "__MACOSX" in parts or parts[-1].startswith("._")


def _zip_member(walk: _Walk, archive: zipfile.ZipFile, member: zipfile.ZipInfo, archive_name: str,
                depth: int) -> None:
    if _macos_metadata(_zip_name(member)):
        return
    member_name = safe_filename(_zip_name(member), "") or walk.fallback_name(_OCTETS)
    if member.flag_bits & 0x1:  # traditional and AES encryption both set bit 0
        walk.problem(member_name, "password-protected archive", archive_name)
        return
    if member.file_size > walk.limits.max_file_bytes:
        walk.problem(member_name, f"file larger than {_size(walk.limits.max_file_bytes)}", archive_name)
        return
    try:
        with archive.open(member) as stream:
            data = stream.read(walk.limits.max_file_bytes + 1)
    except Exception as exc:  # bad CRC, unsupported compression method, truncated archive
        walk.problem(member_name, f"archive member cannot be read ({type(exc).__name__})", archive_name)
        return
    _file(walk, member_name, _guess_type(member_name), data, archive_name, depth + 1)


def _zip_name(member: zipfile.ZipInfo) -> str:
    """Member names without the UTF-8 flag are decoded as cp437 by zipfile; most such names are really UTF-8."""
    if member.flag_bits & 0x800:
        return member.filename
    try:
        return member.filename.encode("cp437").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return member.filename


def _open_tnef(walk: _Walk, name: str, data: bytes, container: str | None, depth: int) -> None:
    """Outlook's winmail.dat: its attachments under their long names; its RTF body is the cover note, not a file."""
    tnef = tnefparse.TNEF(data)
    for attachment in tnef.attachments:
        long_name = attachment.long_filename() or attachment.name
        if isinstance(long_name, bytes):
            long_name = _readable_bytes(long_name)
        member_name = safe_filename(str(long_name), "") or walk.fallback_name(_OCTETS)
        content = attachment.data if isinstance(attachment.data, bytes) else b""
        _file(walk, member_name, _guess_type(member_name), content, name, depth + 1)


def _open_outlook(walk: _Walk, name: str, data: bytes, container: str | None, depth: int) -> None:
    """An attached Outlook item (.msg): its attachments are the documents; its body is not."""
    item = extract_msg.openMsg(data)
    try:
        _outlook_attachments(walk, item, name, depth + 1)
    finally:
        item.close()


def _outlook_attachments(walk: _Walk, item: MSGFile, container: str, depth: int) -> None:
    for attachment in item.attachments:
        content = attachment.data
        raw_name = attachment.longFilename or attachment.shortFilename or attachment.displayName
        if isinstance(content, MSGFile):  # an Outlook item attached to the Outlook item
            label = safe_filename(raw_name, "") or _forward_label(content.subject)
            if not _too_deep(walk, label, container, depth):
                _outlook_attachments(walk, content, label, depth + 1)
            continue
        content_type = (attachment.mimetype or "").lower() or _guess_type(raw_name or "")
        member_name = safe_filename(raw_name, "") or walk.fallback_name(content_type)
        if not isinstance(content, bytes):
            walk.problem(member_name, "Outlook attachment cannot be read", container)
        elif not (attachment.hidden and attachment.cid and content_type.startswith("image/")
                  and len(content) < _LOGO_BYTES):
            _file(walk, member_name, content_type, content, container, depth)


def _open_smime(walk: _Walk, name: str, data: bytes, container: str | None, depth: int) -> None:
    """S/MIME pkcs7-mime: the signature is recorded and the signed content opened; encrypted data cannot be read."""
    info = cms.ContentInfo.load(_der(data))
    kind = info["content_type"].native
    if kind in _ENCRYPTED_CMS:
        walk.problem(name, "encrypted S/MIME message, cannot be read", container)
        return
    if kind != "signed_data":
        walk.problem(name, f"S/MIME content of type {kind} is not supported", container)
        return
    walk.out.signatures.append(_signer(info["content"]))
    content = info["content"]["encap_content_info"]["content"].native
    if not isinstance(content, bytes) or not content:
        walk.problem(name, "S/MIME signed message without content", container)
        return
    signed_file = name[:-4] if name.lower().endswith(".p7m") else ""
    if "." in signed_file:  # "beslut.pdf.p7m": a signed document (CAdES), not a signed mail
        _file(walk, signed_file, _guess_type(signed_file), content, name, depth + 1)
    else:
        _part(walk, message_from_bytes(content, policy=_POLICY), name, depth + 1, nesting=0)


_OPENERS: dict[str, Callable[[_Walk, str, bytes, str | None, int], None]] = {
    "mail": _open_mail, "zip": _open_zip, "tnef": _open_tnef, "outlook": _open_outlook, "smime": _open_smime,
}
_WHAT = {"mail": "attached mail", "zip": "archive", "tnef": "winmail.dat", "outlook": "Outlook item",
         "smime": "S/MIME content"}


# --- signatures ---------------------------------------------------------------------------------------------------

def _signature_label(data: bytes, name: str) -> str:
    """Who signed, from a detached signature file; the signature is recorded, never verified here."""
    if name.lower().endswith((".asc", ".sig")) or data.lstrip().startswith(b"-----BEGIN PGP"):
        return "OpenPGP detached signature (not verified)"
    try:
        info = cms.ContentInfo.load(_der(data))
        if info["content_type"].native == "signed_data":
            return _signer(info["content"])
    except Exception:  # an unreadable signature is still a signature seen
        pass
    return "S/MIME detached signature"


def _signer(signed_data: cms.SignedData) -> str:
    """'S/MIME signature by <CN> <e-mail>' from the certificate matching the first signer, as far as it is there."""
    try:
        sid = signed_data["signer_infos"][0]["sid"]
        for choice in signed_data["certificates"] or []:
            cert = choice.chosen
            if not hasattr(cert, "subject"):
                continue
            if sid.name == "issuer_and_serial_number":
                match = (cert.serial_number == sid.chosen["serial_number"].native
                         and cert.issuer == sid.chosen["issuer"])
            else:
                match = cert.key_identifier == sid.chosen.native
            if match:
                subject = cert.subject.native
                who = " ".join(x for x in (subject.get("common_name"), _angle(subject.get("email_address"))) if x)
                return f"S/MIME signature by {_clean(who)} (not verified)"
    except Exception:  # a signature we cannot attribute is still recorded
        pass
    return "S/MIME signature, signer unknown (not verified)"


def _der(data: bytes) -> bytes:
    """DER as sent, or from a PEM block, which some tools write into .p7m and .p7s files."""
    if data.lstrip().startswith(b"-----BEGIN"):
        body = b"".join(line for line in data.strip().splitlines()[1:-1] if b":" not in line)
        return base64.b64decode(body)
    return data


def _angle(address: str | None) -> str | None:
    return f"<{address}>" if address else None


# --- uuencoded files in the mail's own text -----------------------------------------------------------------------

def _uudecoded(walk: _Walk, text: bytes, container: str | None, depth: int) -> None:
    """Files written into a text body as 'begin 644 NAME' ... 'end' blocks, as old command-line mailers do."""
    lines = text.splitlines()
    i = 0
    while i < len(lines) and not walk.full:
        match = _UU_BEGIN.match(lines[i].rstrip())
        i += 1
        if not match:
            continue
        name = safe_filename(_readable_bytes(match.group(1).strip()), "") or walk.fallback_name(_OCTETS)
        chunks = []
        while i < len(lines) and lines[i].rstrip() != b"end":
            chunks.append(_uu_line(lines[i].rstrip(b"\r")))
            i += 1
        if i >= len(lines):
            walk.problem(name, "uuencoded file is cut off (no 'end' line)", container)
            return
        i += 1
        _file(walk, name, _guess_type(name), b"".join(chunks), container, depth)


def _uu_line(line: bytes) -> bytes:
    try:
        return binascii.a2b_uu(line)
    except binascii.Error:
        # Some encoders pad lines with extra characters; the length byte says how much is real (as uu.py did).
        nbytes = (((line[0] - 32) & 63) * 4 + 5) // 3 if line else 0
        try:
            return binascii.a2b_uu(line[:nbytes])
        except binascii.Error:
            return b""


# --- text -----------------------------------------------------------------------------------------------------------

def _header(message: Message, name: str) -> str:
    try:
        return _readable(str(message.get(name) or ""))
    except Exception:  # a header we cannot read is as good as absent
        return ""


def _readable(value: str) -> str:
    """Header text for people: RFC 2047 words decoded, raw 8-bit read as UTF-8 (else cp1252), lines unfolded."""
    value = _unsurrogate(value)
    if "=?" in value:
        try:
            value = str(make_header(decode_header(value)))
        except Exception:  # unknown charset or broken words: keep the text as written
            pass
    return " ".join(value.split())


def _unsurrogate(value: str) -> str:
    if not any("\udc80" <= ch <= "\udcff" for ch in value):
        return value
    return _readable_bytes(value.encode("utf-8", "surrogateescape"))


def _readable_bytes(raw: bytes) -> str:
    """UTF-8, also when a mailer cut the text inside its last character; anything else is taken as Windows-1252."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        head = raw[: exc.start]
        # A character cut off at the very end, after other UTF-8 characters: the mailer cut a UTF-8 name short.
        if exc.reason == "unexpected end of data" and not head.isascii():
            return head.decode("utf-8")
    return raw.decode("cp1252", "replace")


def _clean(label: str) -> str:
    """A container label for people: no control characters, bounded length."""
    label = "".join(ch for ch in unicodedata.normalize("NFC", label) if unicodedata.category(ch)[0] != "C")
    return label[:200]


def _guess_type(name: str) -> str:
    return mimetypes.guess_type(name, strict=False)[0] or "application/octet-stream"


def _size(n: int) -> str:
    return f"{n // MB} MB" if n >= MB else f"{n} bytes"
