"""Bad and hostile packages: each refused with its own code and HTTP class, nothing left behind.

Every case is a real sample with one edit, or a classic XML attack, so each test shows that the
one thing it names is what docex refuses.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path

import pytest

from docex.errors import BadRequest, PayloadTooLarge, Unprocessable
from docex.interop import (
    EdxmlError,
    EdxmlInvalid,
    EdxmlLimits,
    EdxmlMalformed,
    EdxmlTooLarge,
    parse_package,
)
from docex.interop.safexml import CHUNK
from tests.interop.samples import edit, small_document, status

NS = "http://www.mic.gov.vn/TBT/QCVN_102_2016"


def refused(raw: bytes, code: str, *, limits: EdxmlLimits | None = None) -> EdxmlError:
    with pytest.raises(EdxmlError) as caught:
        parse_package(raw, limits=limits)
    assert caught.value.code == code, caught.value.detail
    return caught.value


# --- XML attacks: 400 ----------------------------------------------------------------------------

BILLION_LAUGHS = f"""<?xml version="1.0"?>
<!DOCTYPE edXML [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<edXML xmlns="{NS}"><Subject>&lol9;</Subject></edXML>"""


def test_billion_laughs_is_refused_at_the_doctype() -> None:
    error = refused(BILLION_LAUGHS.encode(), "edxml_doctype_forbidden")
    assert isinstance(error, BadRequest)
    assert error.status == 400


def test_external_entity_is_never_resolved(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    raw = status().replace(
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE edXML [<!ENTITY xxe SYSTEM '
        f'"file://{secret}">]>',
    )
    raw = raw.replace("<edXML:Description>", "<edXML:Description>&xxe;", 1)
    error = refused(raw.encode(), "edxml_doctype_forbidden")
    assert "TOP-SECRET" not in error.detail


@pytest.mark.parametrize(
    "doctype",
    [
        "<!DOCTYPE edXML>",
        '<!DOCTYPE edXML SYSTEM "http://127.0.0.1:9/edxml.dtd">',
        '<!DOCTYPE edXML [<!ENTITY % p SYSTEM "http://127.0.0.1:9/p.dtd"> %p;]>',
        '<!DOCTYPE edXML [<!ELEMENT edXML ANY><!ATTLIST edXML a CDATA "x">]>',
    ],
)
def test_any_doctype_is_refused(doctype: str) -> None:
    raw = status().replace("?>", f"?>\n{doctype}", 1)
    refused(raw.encode(), "edxml_doctype_forbidden")


def test_an_undeclared_entity_is_malformed() -> None:
    raw = edit(status(), "<edXML:Description>", "<edXML:Description>&xxe;")
    refused(raw, "edxml_malformed")


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"   \n",
        b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj",
        b'<?xml version="1.0"?><edXML xmlns="' + NS.encode() + b'"><unclosed>',
        b"\xff\xfe\x00<\x00?\x00x\x00m\x00l",
        b"<!-- before the declaration -->" + status().encode(),
    ],
    ids=["empty", "blank", "a PDF", "truncated", "broken UTF-16", "comment first"],
)
def test_what_is_not_xml_is_malformed(raw: bytes) -> None:
    error = refused(raw, "edxml_malformed")
    assert isinstance(error, EdxmlMalformed)


@pytest.mark.parametrize(
    "prefix", [b"garbage", b"12345678901234567890", b"\x00\x00\x00\x04", b"1212\xef\xbb\xbf"]
)
def test_other_bytes_before_the_declaration_are_refused(prefix: bytes) -> None:
    refused(prefix + status().encode(), "edxml_junk_before_declaration")


# --- bounds: 413 ---------------------------------------------------------------------------------


def test_deep_nesting_is_refused() -> None:
    nested = "<edXML:X>" * 10_000 + "</edXML:X>" * 10_000
    raw = edit(status(), "<edXML:StatusCode>", nested + "<edXML:StatusCode>")
    error = refused(raw, "edxml_too_deep")
    assert isinstance(error, PayloadTooLarge)
    assert error.status == 413


def test_too_many_elements_are_refused() -> None:
    many = "<edXML:X/>" * 2_000
    raw = edit(status(), "<edXML:StatusCode>", many + "<edXML:StatusCode>")
    refused(raw, "edxml_too_many_nodes", limits=EdxmlLimits(max_nodes=1_000))


def test_too_many_attributes_count_as_nodes() -> None:
    attributes = " ".join(f'a{i}="x"' for i in range(2_000))
    raw = edit(status(), "<edXML:StatusCode>", f"<edXML:StatusCode {attributes}>")
    refused(raw, "edxml_too_many_nodes", limits=EdxmlLimits(max_nodes=1_000))


def test_huge_text_outside_attachments_is_refused() -> None:
    raw = edit(status(), "<edXML:Description>", "<edXML:Description>" + "A" * 200_000)
    refused(raw, "edxml_text_too_long", limits=EdxmlLimits(max_text_chars=100_000))


def test_huge_text_in_many_elements_is_refused() -> None:
    many = "".join(f"<edXML:X{i}>{'A' * 5_000}</edXML:X{i}>" for i in range(50))
    raw = edit(status(), "<edXML:StatusCode>", many + "<edXML:StatusCode>")
    refused(raw, "edxml_text_too_long", limits=EdxmlLimits(max_total_text_chars=100_000))


def test_huge_base64_is_refused_before_it_is_read_whole(tmp_path: Path) -> None:
    limits = EdxmlLimits(max_bytes=1024 * 1024)

    class Endless(io.RawIOBase):
        """A package whose attachment never ends; counts what docex read of it."""

        def __init__(self) -> None:
            head, _, _ = small_document().partition("JVBER")  # base64 of "%PDF"
            self.head = head.encode()
            self.read_bytes = 0

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
            chunk = self.head if self.read_bytes == 0 else b"QUFB" * (len(buffer) // 4)
            chunk = chunk[: len(buffer)]
            buffer[: len(chunk)] = chunk
            self.read_bytes += len(chunk)
            return len(chunk)

    stream = Endless()
    with pytest.raises(EdxmlTooLarge) as caught:
        parse_package(io.BufferedReader(stream), limits=limits, spool_dir=tmp_path)
    assert caught.value.code == "edxml_too_large"
    assert stream.read_bytes <= limits.max_bytes + 2 * CHUNK
    assert list(tmp_path.iterdir()) == []  # the partial spool file is gone


def test_huge_base64_in_bytes_is_refused_up_front() -> None:
    payload = b"\0" * (2 * 1024 * 1024)
    raw = small_document(payload).encode()
    refused(raw, "edxml_too_large", limits=EdxmlLimits(max_bytes=1024 * 1024))


def test_too_many_attachments_are_refused(tmp_path: Path) -> None:
    text = small_document()
    start = text.index("<Attachment>")
    end = text.index("</Attachment>") + len("</Attachment>")
    one = text[start:end]
    many = "".join(one.replace("cid:209", f"cid:{i}") for i in range(4))
    with pytest.raises(EdxmlTooLarge) as caught:
        parse_package(
            (text[:start] + many + text[end:]).encode(),
            limits=EdxmlLimits(max_files=3),
            spool_dir=tmp_path,
        )
    assert caught.value.code == "edxml_too_many_files"
    assert list(tmp_path.iterdir()) == []


# --- not an edXML package: 422 -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (f'<edXML xmlns="{NS}">', '<edXML xmlns="http://example.org/not-edxml">'),
        (f'<edXML xmlns="{NS}">', "<edXML>"),
        ("<edXML:StatusCode>03", '<x:StatusCode xmlns:x="http://example.org/">03'),
    ],
    ids=["root in another namespace", "root in no namespace", "an element elsewhere"],
)
def test_wrong_namespace_is_refused(old: str, new: str) -> None:
    text = status()
    if new.startswith("<x:"):
        text = text.replace("</edXML:StatusCode>", "</x:StatusCode>")
    error = refused(edit(text, old, new), "edxml_wrong_namespace")
    assert isinstance(error, Unprocessable)
    assert error.status == 422


def test_another_root_is_not_a_package() -> None:
    text = status()
    raw = edit(text[: text.rindex("</edXML>")] + "</Other>", "<edXML xmlns", "<Other xmlns")
    refused(raw, "edxml_not_a_package")


@pytest.mark.parametrize(
    ("element", "text_of"),
    [
        ("edXML:edXMLEnvelope", "document"),
        ("edXML:MessageHeader", "document"),
        ("edXML:From", "document"),
        ("edXML:To", "document"),
        ("edXML:DocumentId", "document"),
        ("edXML:Subject", "document"),
        ("edXML:BussinessDocType", "document"),
        ("edXML:Timestamp", "document"),
        ("edXML:ResponseFor", "status"),
        ("edXML:Timestamp", "status"),
        ("edXML:From", "status"),
    ],
)
def test_missing_required_elements_are_refused(element: str, text_of: str) -> None:
    import re

    text = small_document() if text_of == "document" else status()
    stripped, removed = re.subn(rf"<{element}[ >].*?</{element}>", "", text, flags=re.S)
    assert removed
    error = refused(stripped.encode(), "edxml_missing_element")
    assert element.split(":")[1] in error.detail


def test_attachment_listed_but_absent_is_refused() -> None:
    text = small_document()
    start, end = text.index("<AttachmentEncoded>"), text.index("</AttachmentEncoded>")
    refused(
        (text[:start] + text[end + len("</AttachmentEncoded>") :]).encode(),
        "edxml_attachment_missing",
    )


def test_repeated_single_elements_are_refused() -> None:
    subject = "<edXML:Subject>Một</edXML:Subject>"
    raw = edit(small_document(), "<edXML:Subject>", subject + "<edXML:Subject>")
    refused(raw, "edxml_duplicate_element")
    raw = edit(
        status(), "<edXML:StatusCode>", "<edXML:StatusCode>05</edXML:StatusCode><edXML:StatusCode>"
    )
    refused(raw, "edxml_duplicate_element")


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("<edXML:PromulgationDate>2018/09/28", "<edXML:PromulgationDate>2018/13/45"),
        ("<edXML:DueDate>2018/09/28", "<edXML:DueDate>tomorrow"),
        ("<edXML:Timestamp>2018/09/28 00:00:00", "<edXML:Timestamp>2018/09/28 25:61:00"),
        ("<edXML:Timestamp>2018/09/28 00:00:00", "<edXML:Timestamp>28/09/2018 00:00:00"),
    ],
)
def test_bad_dates_are_refused(old: str, new: str) -> None:
    error = refused(edit(small_document(), old, new), "edxml_invalid_date")
    assert new.split(">")[1] in error.detail


def test_a_bad_status_timestamp_is_refused() -> None:
    refused(edit(status(), "2015/09/20 11:08:36", "2015/02/30 11:08:36"), "edxml_invalid_date")


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (
            "<edXML:OrganId>000.00.00.G22</edXML:OrganId>",
            "<edXML:OrganId>000.00.00.Н22</edXML:OrganId>",
        ),
        ("<edXML:OrganId>000.00.00.H41</edXML:OrganId>", "<edXML:OrganId>Nghệ An</edXML:OrganId>"),
        (
            "<edXML:OrganId>000.00.00.H14</edXML:OrganId>",
            "<edXML:OrganId>000.00.00.H14;x</edXML:OrganId>",
        ),
        (
            "<edXML:OrganId>000.00.00.G17</edXML:OrganId>",
            "<edXML:OrganId>０００.00.00.G17</edXML:OrganId>",
        ),
    ],
    ids=["cyrillic look-alike", "a name", "trailing junk", "full-width digits"],
)
def test_invalid_organ_ids_are_refused(old: str, new: str) -> None:
    refused(edit(small_document(), old, new), "edxml_invalid_organ_id")


def test_an_invalid_organ_id_in_a_status_is_refused() -> None:
    raw = edit(status(), "<edXML:OrganId>000.00.00.H41<", "<edXML:OrganId>H41<")
    refused(raw, "edxml_invalid_organ_id")


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("<edXML:Priority>0<", "<edXML:Priority>9<"),
        ("<edXML:SteeringType>1<", "<edXML:SteeringType>yes<"),
        ("<edXML:BussinessDocType>2<", "<edXML:BussinessDocType>7<"),
        ("<edXML:Type>1<", "<edXML:Type>một<"),
        ("<edXML:Subject>V/v", "<edXML:Subject>" + "V" * 1001),
        ("<edXML:CodeNumber>7816<", "<edXML:CodeNumber>" + "7" * 21 + "<"),
        ("<edXML:Subject>V/v kết nối", "<edXML:Subject><edXML:X>nested</edXML:X>V/v kết nối"),
    ],
    ids=[
        "priority",
        "steering",
        "business type",
        "document type",
        "long subject",
        "long number",
        "elements in a text field",
    ],
)
def test_values_docex_cannot_take_are_refused(old: str, new: str) -> None:
    refused(edit(small_document(), old, new), "edxml_invalid_value")


def test_an_unknown_status_code_is_refused() -> None:
    refused(
        edit(status(), "<edXML:StatusCode>03<", "<edXML:StatusCode>99<"), "edxml_unknown_status"
    )


@pytest.mark.parametrize("character", ["\u0085", "\u009b"])
def test_control_characters_are_refused(character: str) -> None:
    raw = edit(small_document(), "<edXML:Subject>V/v", f"<edXML:Subject>V/v{character}")
    refused(raw, "edxml_control_character")


@pytest.mark.parametrize(
    "data",
    ["!!!!", "QUJDR===", "QUJDRA==QUJD", "QUJDRA", "QUJDRA=ẞ"],
    ids=["bad characters", "bad padding", "data after padding", "no padding", "non-ASCII"],
)
def test_bad_base64_is_refused(data: str, tmp_path: Path) -> None:
    text = small_document()
    good = base64.b64encode(b"%PDF-1.4\n% tiny\n").decode()
    with pytest.raises(EdxmlInvalid) as caught:
        parse_package(edit(text, good, data), spool_dir=tmp_path)
    assert caught.value.code == "edxml_invalid_base64"
    assert list(tmp_path.iterdir()) == []


def test_a_refusal_after_an_attachment_leaves_no_spool_file(tmp_path: Path) -> None:
    raw = edit(small_document(), "</AttachmentEncoded>", "</AttachmentEncoded><broken>")
    with pytest.raises(EdxmlMalformed):
        parse_package(raw, spool_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []
