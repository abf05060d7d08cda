"""unpack(): every wrapper in corpus/wrapped yields exactly its documents; generated hostile mail ends in Problems."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import io
import time
import zipfile

import pytest
from asn1crypto import cms, x509

from intake.unpack import UnpackLimits, unpack

from tests.conftest import SHARED  # noqa: E402
WRAPPED = SHARED / "corpus" / "wrapped"
MIME = SHARED / "corpus" / "mime"

A = [  # application A, names as sent (wrapped/README.md)
    "Ansökningsblankett hälsodata ÅTER-KORS signerad.pdf",
    "Etikansökan 2025-04618-01.pdf",
    "Beslut 2025-04618-01.pdf",
    "Forskningsplan ÅTER-KORS v2.0.docx",
    "Variabellista ÅTER-KORS.xlsx",
    "Forskningspersonsinformation med samtyckesblankett ÅTER-KORS v1.1.pdf",
]
B = [  # application B, names as sent
    "Application form HOME-PR signed.pdf",
    "Ethics application 2026-01342-01.pdf",
    "EPM decision 2026-01342-01.pdf",
    "Research plan HOME-PR v1.3.docx",
    "HOME-PR variable list.xlsx",
    "Participant information and consent form v1.0.pdf",
]
A_RFC2231 = [
    "Ansökningsblankett för utlämnande av hälsodata från Region Älvmark, underskriven av sökande och prefekt.pdf",
    "Ansökan om etikprövning – Återgång till idrott efter främre korsbandsrekonstruktion "
    "(registrerad hos Etikprövningsmyndigheten).pdf",
    "Etikprövningsmyndighetens beslut om godkännande – Återgång till idrott efter främre korsbandsrekonstruktion, "
    "Dnr 2025-04618-01.pdf",
    "Forskningsplan_ATER-KORS_version_2.0_slutlig_efter_synpunkter_fran_medforfattarna.docx",
    "Variabellista för uttag ur journalsystemet i Region Älvmark – ÅTER-KORS.xlsx",
    "Forskningspersonsinformation och samtyckesblankett för deltagare i korsbandsstudien ÅTER-KORS, "
    "version 1.1 (godkänd).pdf",
]
B_UUENCODE = [
    "application_form_signed.pdf",
    "ethics_application_2026-01342-01.pdf",
    "epm_decision.pdf",
    "research_plan_v1.3.docx",
    "variable_list.xlsx",
    "participant_info_consent_v1.0.pdf",
]
FORWARD_CONTAINER = "Fwd: Ansökan om hälsodata ÅTER-KORS – granskning innan inskick"
MSG_CONTAINER = "HOME-PR – application for health data to Region Älvmark.msg"

# mail -> (application, expected names in order, expected container of every document, signer or None)
WRAPPED_EXPECTED = {
    "tnef-winmail-dat.eml": ("A", A, "winmail.dat", None),
    "outlook-msg-attached.eml": ("B", B, MSG_CONTAINER, None),
    "smime-opaque-signed.eml": ("A", A, "smime.p7m", "Viveka Wessberg <viveka.wessberg@kustlanda-uni.example>"),
    "smime-detached-signed.eml": ("B", B, None, "Daniel Mwangi <daniel.mwangi@hallmyra-uni.example>"),
    "rfc2231-continuation-names.eml": ("A", A_RFC2231, None, None),
    "forwarded-two-levels.eml": ("A", A, FORWARD_CONTAINER, None),
    "uuencoded-in-body.eml": ("B", B_UUENCODE, None, None),
    "pdf-without-content-disposition.eml": ("B", B, None, None),
}
WRAPPERS = {"winmail.dat", "smime.p7m", "smime.p7s"}
MAGIC = {".pdf": b"%PDF-", ".docx": b"PK\x03\x04", ".xlsx": b"PK\x03\x04"}

PDF = b"%PDF-1.4\n% a tiny stand-in for a document\n%%EOF\n"


def wrapped(name: str):
    return unpack((WRAPPED / name).read_bytes())


# --- corpus/wrapped: each wrapper yields exactly its six documents ---------------------------------------------------

@pytest.mark.parametrize("mail", sorted(WRAPPED_EXPECTED))
def test_wrapped_mail_yields_exactly_its_documents(mail):
    _app, names, container, signer = WRAPPED_EXPECTED[mail]
    result = wrapped(mail)
    assert [f.filename for f in result.files] == names
    assert [f.container for f in result.files] == [container] * 6
    assert result.problems == []
    assert result.signatures == ([f"S/MIME signature by {signer} (not verified)"] if signer else [])


@pytest.mark.parametrize("mail", sorted(WRAPPED_EXPECTED))
def test_wrapped_documents_are_whole_files_not_wrappers_or_bodies(mail):
    for item in wrapped(mail).files:
        extension = item.filename[item.filename.rindex("."):]
        assert item.data.startswith(MAGIC[extension]), item.filename
        assert item.filename.lower() not in WRAPPERS
        assert not item.filename.lower().endswith((".eml", ".msg", ".p7m", ".p7s"))
        assert "\ufffd" not in item.filename and "%" not in item.filename


def test_same_document_comes_out_byte_identical_from_every_wrapper():
    digests: dict[str, set[tuple[str, ...]]] = {"A": set(), "B": set()}
    for mail, (app, _names, _container, _signer) in WRAPPED_EXPECTED.items():
        digests[app].add(tuple(hashlib.sha256(f.data).hexdigest() for f in wrapped(mail).files))
    assert len(digests["A"]) == 1 and len(digests["B"]) == 1


def test_uuencoded_lines_are_not_left_as_an_attachment():
    result = wrapped("uuencoded-in-body.eml")
    assert not any(f.content_type.startswith("text/") for f in result.files)


# --- generated mail -----------------------------------------------------------------------------------------------

def part(content_type: str, body: bytes | str, *headers: str, b64: bool = True) -> bytes:
    """One MIME part: headers, a blank line, the body (base64 unless told otherwise)."""
    if isinstance(body, str):
        body = body.encode()
    lines = [f"Content-Type: {content_type}".encode(), *(h.encode() for h in headers)]
    if b64:
        lines.append(b"Content-Transfer-Encoding: base64")
        body = base64.encodebytes(body).replace(b"\n", b"\r\n")
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def mail(*parts: bytes, subject: str = "Test", boundary: str = "b0") -> bytes:
    """A multipart/mixed mail around the parts."""
    head = (f"From: a@example.org\r\nTo: halsodata@region.example\r\nSubject: {subject}\r\nMIME-Version: 1.0\r\n"
            f'Content-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n').encode()
    body = b"".join(f"--{boundary}\r\n".encode() + p + b"\r\n" for p in parts)
    return head + body + f"--{boundary}--\r\n".encode()


BODY = part("text/plain; charset=utf-8", "Hej, här är ansökan.\r\n", b64=False)
HTML = part("text/html; charset=utf-8", "<p>Hej</p>", b64=False)


def names(result) -> list[str]:
    return [f.filename for f in result.files]


def reasons(result) -> list[str]:
    return [p.reason for p in result.problems]


def test_bodies_are_not_documents_but_attachments_are():
    raw = mail(BODY, HTML, part("application/pdf", PDF, 'Content-Disposition: attachment; filename="a.pdf"'),
               part("text/plain", "notes\r\n", 'Content-Disposition: attachment; filename="notes.txt"'))
    result = unpack(raw)
    assert names(result) == ["a.pdf", "notes.txt"]
    assert result.files[0].data == PDF and result.files[0].container is None
    assert result.files[0].content_type == "application/pdf"


def test_parts_without_disposition_that_are_files():
    raw = mail(BODY,
               part('application/octet-stream; name="plan.docx"', b"PK\x03\x04docx"),
               part("application/pdf", PDF),  # no name at all: still a document, under a made-up name
               part('text/csv; name="vars.csv"', "a;b\r\n"))
    assert names(unpack(raw)) == ["plan.docx", "attachment-1.pdf", "vars.csv"]


def test_rfc2047_and_raw_utf8_names_decode_to_readable_text():
    raw = mail(part('application/pdf; name="=?utf-8?B?' + base64.b64encode("Beslut Å.pdf".encode()).decode() + '?="',
                    PDF),
               part("application/pdf", PDF, 'Content-Disposition: attachment; filename="Ansökan.pdf"'))
    assert names(unpack(raw)) == ["Beslut Å.pdf", "Ansökan.pdf"]


def test_raw_8bit_names_cut_short_or_in_latin1_stay_readable():
    cut = "Картинка чт".encode()[:-1]  # a mailer cut the UTF-8 name inside its last character
    raw = mail(part("image/png", b"\x89PNG", 'Content-Disposition: attachment; filename="CUT"'),
               part("application/pdf", PDF, 'Content-Disposition: attachment; filename="LATIN1"'))
    raw = raw.replace(b'"CUT"', b'"' + cut + b'"').replace(b'"LATIN1"', b'"Ans\xf6kan.pdf"')
    assert names(unpack(raw)) == ["Картинка ч", "Ansökan.pdf"]


def test_file_names_cannot_climb_directories():
    raw = mail(part("application/pdf", PDF, 'Content-Disposition: attachment; filename="../../etc/x.pdf"'))
    assert names(unpack(raw)) == ["x.pdf"]


def test_tiny_inline_logo_is_skipped_but_real_images_are_kept():
    small, large = b"\x89PNG" + b"\0" * 500, b"\x89PNG" + b"\0" * 30_000
    raw = mail(BODY,
               part('image/png; name="image001.png"', small, "Content-ID: <logo@x>", "Content-Disposition: inline"),
               part('image/png; name="scan.png"', large, "Content-ID: <scan@x>", "Content-Disposition: inline"),
               part('image/png; name="stamp.png"', small, "Content-ID: <stamp@x>",
                    'Content-Disposition: attachment; filename="stamp.png"'),
               part('image/jpeg; name="photo.jpg"', small))
    assert names(unpack(raw)) == ["scan.png", "stamp.png", "photo.jpg"]


def test_eml_attached_as_octet_stream_is_opened():
    inner = mail(BODY, part("application/pdf", PDF, 'Content-Disposition: attachment; filename="inner.pdf"'),
                 subject="Original", boundary="b1")
    raw = mail(BODY, part('application/octet-stream; name="original.eml"', inner))
    result = unpack(raw)
    assert [(f.filename, f.container) for f in result.files] == [("inner.pdf", "original.eml")]


def test_eml_that_is_not_a_mail_is_kept_as_a_file():
    raw = mail(part('application/octet-stream; name="odd.eml"', b"\r\n\r\njust bytes"))
    assert names(unpack(raw)) == ["odd.eml"]


def forward_chain(levels: int) -> bytes:
    """A mail forwarded as message/rfc822 `levels` times; every level carries one PDF named after it."""
    raw = mail(part("application/pdf", PDF, 'Content-Disposition: attachment; filename="level-0.pdf"'),
               subject="level 0", boundary="b0")
    for level in range(1, levels + 1):
        raw = mail(part("application/pdf", PDF, f'Content-Disposition: attachment; filename="level-{level}.pdf"'),
                   b"Content-Type: message/rfc822\r\n\r\n" + raw, subject=f"level {level}", boundary=f"b{level}")
    return raw


def test_forwards_are_followed_to_max_depth_then_a_problem():
    result = unpack(forward_chain(8))  # the outer mail is level 8; the innermost is level 0
    assert names(result) == [f"level-{n}.pdf" for n in range(8, 2, -1)]  # depth 0..5
    assert [f.container for f in result.files][:3] == [None, "Fwd: level 7", "Fwd: level 6"]
    assert reasons(result) == ["nested deeper than 5 levels"]
    assert result.problems[0].filename == "Fwd: level 2"


def test_forward_depth_follows_the_limits():
    assert reasons(unpack(forward_chain(3), UnpackLimits(max_depth=1))) == ["nested deeper than 1 levels"]
    assert reasons(unpack(forward_chain(3))) == []


def test_mime_nested_too_deep_for_the_parser_is_a_problem():
    depth = 3000
    head = b"".join(b'Content-Type: multipart/mixed; boundary="n%d"\r\n\r\n--n%d\r\n' % (i, i) for i in range(depth))
    tail = b"".join(b"--n%d--\r\n" % i for i in reversed(range(depth)))
    raw = b"From: a@example.org\r\n" + head + b"Content-Type: application/pdf\r\n\r\nx\r\n" + tail
    result = unpack(raw)
    assert result.files == [] and len(result.problems) == 1


def test_mime_nesting_beyond_the_limit_is_a_problem():
    depth = 60
    head = b"".join(b'Content-Type: multipart/mixed; boundary="n%d"\r\n\r\n--n%d\r\n' % (i, i) for i in range(depth))
    tail = b"".join(b"--n%d--\r\n" % i for i in reversed(range(depth)))
    raw = b"From: a@example.org\r\n" + head + b"Content-Type: application/pdf\r\n\r\nx\r\n" + tail
    assert reasons(unpack(raw)) == ["MIME parts nested deeper than 50"]


# --- zip ----------------------------------------------------------------------------------------------------------

def make_zip(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def zip_mail(data: bytes, name: str = "bilagor.zip", content_type: str = "application/zip") -> bytes:
    disposition = f'Content-Disposition: attachment; filename="{name}"'
    return mail(BODY, part(f'{content_type}; name="{name}"', data, disposition))


def test_zip_members_are_documents():
    data = make_zip({"Beslut.pdf": PDF, "undermapp/Plan.docx": b"PK\x03\x04docx", "tom/": b""})
    result = unpack(zip_mail(data))
    assert [(f.filename, f.container, f.content_type) for f in result.files] == [
        ("Beslut.pdf", "bilagor.zip", "application/pdf"),
        ("Plan.docx", "bilagor.zip", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    ]
    assert result.files[0].data == PDF


def test_zip_named_by_content_type_only_is_opened_but_docx_sent_as_zip_is_not():
    data = make_zip({"a.pdf": PDF})
    assert names(unpack(mail(part("application/x-zip-compressed", data)))) == ["a.pdf"]
    assert names(unpack(zip_mail(data, name="plan.docx"))) == ["plan.docx"]


def test_zip_bomb_by_ratio_is_a_problem():
    data = make_zip({"zeros.pdf": b"\0" * (20 * 1024 * 1024)})
    assert len(data) < 100_000
    result = unpack(zip_mail(data))
    assert result.files == []
    assert reasons(result) == ["zip bomb: expands more than 100x"]
    assert result.problems[0].filename == "bilagor.zip"


def test_small_archive_of_compressible_text_is_not_a_bomb():
    assert names(unpack(zip_mail(make_zip({"vars.csv": b"a;b;c\n" * 20_000})))) == ["vars.csv"]


def test_zip_with_too_many_members_is_a_problem():
    data = make_zip({f"f{i}.txt": b"x" for i in range(501)}, zipfile.ZIP_STORED)
    result = unpack(zip_mail(data))
    assert result.files == [] and reasons(result) == ["archive holds more than 500 files"]


def test_zip_expanding_beyond_the_total_limit_is_a_problem():
    data = make_zip({"big.bin": b"\0" * 300_000}, zipfile.ZIP_STORED)
    result = unpack(zip_mail(data), UnpackLimits(max_total_bytes=200_000))
    assert result.files == [] and reasons(result) == ["archive expands beyond 200000 bytes"]


def test_nested_zips_stop_at_max_depth():
    data = make_zip({"level-6.pdf": PDF})
    for level in range(5, -1, -1):
        data = make_zip({f"level-{level}.pdf": PDF, f"level-{level}.zip": data})
    result = unpack(zip_mail(data, name="level-x.zip"))
    assert names(result) == [f"level-{n}.pdf" for n in range(0, 5)]  # level-0.pdf at depth 1, level-4.pdf at 5
    assert reasons(result) == ["nested deeper than 5 levels"]
    assert (result.problems[0].filename, result.problems[0].container) == ("level-4.zip", "level-3.zip")


def encrypt_member(data: bytes) -> bytes:
    """Mark every member as encrypted (general-purpose flag bit 0) in local and central headers, as zip -e would."""
    raw = bytearray(data)
    for signature, flag_offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = raw.find(signature)
        while at != -1:
            raw[at + flag_offset] |= 0x01
            at = raw.find(signature, at + 4)
    return bytes(raw)


def test_encrypted_zip_member_is_a_problem_not_a_file():
    data = encrypt_member(make_zip({"hemlig.pdf": PDF}))
    result = unpack(zip_mail(data))
    assert result.files == []
    assert [(p.filename, p.reason, p.container) for p in result.problems] == [
        ("hemlig.pdf", "password-protected archive", "bilagor.zip")]


def test_corrupt_zip_is_a_problem():
    result = unpack(zip_mail(b"PK\x03\x04 not really a zip"))
    assert result.files == [] and reasons(result) == ["archive cannot be read (BadZipFile)"]


def test_zip_holding_a_mail_holding_a_pdf():
    inner = mail(BODY, part("application/pdf", PDF, 'Content-Disposition: attachment; filename="inner.pdf"'),
                 boundary="b1")
    result = unpack(zip_mail(make_zip({"vidarebefordrat.eml": inner})))
    assert [(f.filename, f.container) for f in result.files] == [("inner.pdf", "vidarebefordrat.eml")]


# --- winmail.dat, .msg and S/MIME, broken -----------------------------------------------------------------------------

def test_corrupt_winmail_dat_is_a_problem():
    result = unpack(mail(BODY, part('application/ms-tnef; name="winmail.dat"', b"not TNEF at all")))
    assert result.files == [] and reasons(result)[0].startswith("winmail.dat cannot be read")


def test_corrupt_outlook_item_is_a_problem():
    result = unpack(mail(BODY, part('application/vnd.ms-outlook; name="item.msg"', b"\xd0\xcf\x11\xe0garbage")))
    assert result.files == [] and reasons(result)[0].startswith("Outlook item cannot be read")


def enveloped_data() -> bytes:
    """A minimal, well-formed CMS EnvelopedData: what an encrypted S/MIME mail carries."""
    recipient = cms.KeyTransRecipientInfo({
        "version": "v0",
        "rid": cms.RecipientIdentifier(name="issuer_and_serial_number", value={
            "issuer": x509.Name.build({"common_name": "Test"}), "serial_number": 1}),
        "key_encryption_algorithm": {"algorithm": "rsaes_pkcs1v15"},
        "encrypted_key": b"\0" * 128,
    })
    envelope = cms.EnvelopedData({
        "version": "v0",
        "recipient_infos": [cms.RecipientInfo(name="ktri", value=recipient)],
        "encrypted_content_info": {
            "content_type": "data",
            "content_encryption_algorithm": {"algorithm": "aes128_cbc", "parameters": b"\0" * 16},
            "encrypted_content": b"\0" * 64,
        },
    })
    return cms.ContentInfo({"content_type": "enveloped_data", "content": envelope}).dump()


def smime_mail(content_type: str, data: bytes) -> bytes:
    return (b"From: a@example.org\r\nSubject: krypterat\r\nMIME-Version: 1.0\r\n"
            + part(content_type, data, 'Content-Disposition: attachment; filename="smime.p7m"'))


@pytest.mark.parametrize("content_type", [
    'application/pkcs7-mime; smime-type=enveloped-data; name="smime.p7m"',  # as Outlook and Thunderbird send it
    'application/x-pkcs7-mime; name="smime.p7m"',  # no smime-type: the CMS structure itself says so
])
def test_encrypted_smime_is_a_problem(content_type):
    result = unpack(smime_mail(content_type, enveloped_data()))
    assert result.files == []
    assert [(p.filename, p.reason) for p in result.problems] == [
        ("smime.p7m", "encrypted S/MIME message, cannot be read")]


def test_encrypted_smime_by_parameter_alone_is_a_problem():
    result = unpack(smime_mail("application/pkcs7-mime; smime-type=enveloped-data", b"not even DER"))
    assert reasons(result) == ["encrypted S/MIME message, cannot be read"]


def signed_data(content: bytes) -> bytes:
    """A CMS SignedData that encapsulates the content, with no signer: enough to test the unwrapping."""
    signed = cms.SignedData({"version": "v1", "digest_algorithms": [],
                             "encap_content_info": {"content_type": "data", "content": content}, "signer_infos": []})
    return cms.ContentInfo({"content_type": "signed_data", "content": signed}).dump()


def test_opaque_signed_mail_content_is_walked_as_mime():
    inner = mail(BODY, part("application/pdf", PDF, 'Content-Disposition: attachment; filename="a.pdf"'), boundary="i")
    result = unpack(smime_mail('application/pkcs7-mime; smime-type=signed-data; name="smime.p7m"', signed_data(inner)))
    assert [(f.filename, f.container) for f in result.files] == [("a.pdf", "smime.p7m")]
    assert result.signatures == ["S/MIME signature, signer unknown (not verified)"]


def test_signed_document_p7m_yields_the_document():
    raw = mail(BODY, part('application/octet-stream; name="beslut.pdf.p7m"', signed_data(PDF)))
    result = unpack(raw)
    assert [(f.filename, f.container, f.data) for f in result.files] == [("beslut.pdf", "beslut.pdf.p7m", PDF)]
    assert len(result.signatures) == 1


def test_corrupt_smime_is_a_problem():
    result = unpack(smime_mail("application/pkcs7-mime; smime-type=signed-data", b"\x30\x03\x02\x01"))
    assert result.files == [] and reasons(result)[0].startswith("S/MIME content cannot be read")


def test_pgp_encrypted_mail_is_a_problem():
    raw = (b"From: a@example.org\r\nMIME-Version: 1.0\r\n"
           b'Content-Type: multipart/encrypted; protocol="application/pgp-encrypted"; boundary="e"\r\n\r\n'
           b"--e\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n"
           b'--e\r\nContent-Type: application/octet-stream; name="encrypted.asc"\r\n\r\n-----BEGIN PGP MESSAGE-----\r\n'
           b"--e--\r\n")
    result = unpack(raw)
    assert result.files == [] and reasons(result) == ["encrypted OpenPGP message, cannot be read"]


def test_unreadable_detached_signature_is_still_recorded_and_not_a_file():
    raw = (b"From: a@example.org\r\nMIME-Version: 1.0\r\n"
           b'Content-Type: multipart/signed; protocol="application/pkcs7-signature"; boundary="s"\r\n\r\n--s\r\n'
           + part("application/pdf", PDF, 'Content-Disposition: attachment; filename="a.pdf"')
           + b"\r\n--s\r\n" + part('application/pkcs7-signature; name="smime.p7s"', b"junk") + b"\r\n--s--\r\n")
    result = unpack(raw)
    assert names(result) == ["a.pdf"] and result.signatures == ["S/MIME detached signature"]


# --- uuencode -----------------------------------------------------------------------------------------------------

def uuencode(name: str, data: bytes) -> bytes:
    lines = [binascii.b2a_uu(data[i:i + 45]).rstrip(b"\n") for i in range(0, len(data), 45)]
    return b"\r\n".join([f"begin 644 {name}".encode(), *lines, b"`", b"end"]) + b"\r\n"


def test_uuencoded_files_in_a_body():
    report = bytes(range(256)) * 3
    body = b"Hej,\r\nbifogat:\r\n\r\n" + uuencode("plan.pdf", PDF) + b"\r\noch\r\n" + uuencode("data.bin", report)
    raw = b"From: a@example.org\r\nSubject: uu\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + body
    result = unpack(raw)
    assert [(f.filename, f.content_type) for f in result.files] == [
        ("plan.pdf", "application/pdf"), ("data.bin", "application/octet-stream")]
    assert result.files[0].data == PDF and result.files[1].data == report


def test_uuencoded_block_without_end_is_a_problem():
    body = uuencode("plan.pdf", PDF).replace(b"end\r\n", b"")
    result = unpack(b"From: a@example.org\r\n\r\n" + body)
    assert result.files == [] and reasons(result) == ["uuencoded file is cut off (no 'end' line)"]


# --- limits and hostile input ------------------------------------------------------------------------------

def test_limits_are_a_frozen_dataclass_with_the_agreed_defaults():
    limits = UnpackLimits()
    assert (limits.max_depth, limits.max_files, limits.max_file_bytes, limits.max_total_bytes,
            limits.max_zip_ratio, limits.max_zip_members) == (5, 200, 50 * 2**20, 200 * 2**20, 100, 500)
    with pytest.raises(dataclasses.FrozenInstanceError):
        limits.max_depth = 9  # type: ignore[misc]


def test_max_files_keeps_the_first_and_records_the_rest():
    raw = mail(*(part("application/pdf", PDF, f'Content-Disposition: attachment; filename="{i}.pdf"')
                 for i in range(5)))
    result = unpack(raw, UnpackLimits(max_files=3))
    assert names(result) == ["0.pdf", "1.pdf", "2.pdf"]
    assert len(result.problems) == 1 and result.problems[0].filename == "3.pdf"


def test_file_over_max_file_bytes_is_a_problem():
    raw = mail(part("application/pdf", PDF * 100, 'Content-Disposition: attachment; filename="big.pdf"'),
               part("application/pdf", PDF, 'Content-Disposition: attachment; filename="small.pdf"'))
    result = unpack(raw, UnpackLimits(max_file_bytes=1000))
    assert names(result) == ["small.pdf"] and reasons(result) == ["file larger than 1000 bytes"]


@pytest.mark.parametrize("raw", [b"", b"\0" * 100, b"\xff\xfe garbage", b"Content-Type: multipart/mixed\r\n\r\n--",
                                 b'Content-Type: multipart/mixed; boundary=""\r\n\r\n--\r\n\r\n--\r\n',
                                 b"Content-Type: message/rfc822\r\n\r\n",
                                 b'Content-Type: application/pdf; name*0*=xx\'\'%ZZ; name*1*=%C3\r\n\r\nx'])
def test_hostile_input_never_raises(raw):
    assert isinstance(unpack(raw).files, list)


MIME_FILES = sorted(p for p in MIME.rglob("*") if p.is_file())


def test_mime_corpus_is_present():
    assert len(MIME_FILES) > 50


@pytest.mark.parametrize("path", MIME_FILES, ids=[str(p.relative_to(MIME)) for p in MIME_FILES])
def test_every_public_corpus_mail_unpacks_quickly_without_raising(path):
    started = time.monotonic()
    result = unpack(path.read_bytes())
    assert time.monotonic() - started < 5
    for item in result.files:
        assert item.filename and "/" not in item.filename


def test_macos_metadata_in_a_zip_is_not_a_document():
    """Archives made on a Mac carry __MACOSX/._name resource forks; listing them as broken files misleads."""
    import io
    import zipfile as zf
    buf = io.BytesIO()
    with zf.ZipFile(buf, "w") as z:
        z.writestr("Ansökan/Ansökan.pdf", b"%PDF-1.4 real")
        z.writestr("__MACOSX/Ansökan/._Ansökan.pdf", b"\x00\x05\x16\x07 resource fork")
        z.writestr("._Forskningsplan.docx", b"\x00\x05\x16\x07 resource fork")
    from email.message import EmailMessage
    msg = EmailMessage()
    msg["From"], msg["Subject"] = "a@b.example", "zip"
    msg.set_content("se bifogat")
    msg.add_attachment(buf.getvalue(), maintype="application", subtype="zip", filename="bilagor.zip")
    got = unpack(msg.as_bytes())
    assert [f.filename for f in got.files] == ["Ansökan.pdf"] and got.problems == []
