"""docex → edXML → docex: the importer reads back exactly what the exporter wrote, for every
sample and for generated envelopes, in the layout (``edXML:`` prefixes) the national hub needs."""

from __future__ import annotations

import dataclasses
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from xml.parsers import expat

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from docex.config import Classification
from docex.documents.envelope import Business, CodeInfo, DocumentType, Envelope, Promulgation
from docex.interop import (
    DocumentPackage,
    EdxmlInvalid,
    PackageFile,
    ResponseFor,
    StaffInfo,
    StatusPackage,
    TraceHeader,
    document_to_edxml,
    new_document_package,
    parse_package,
    status_to_edxml,
    with_hop,
    write_document,
)
from docex.kit.samplepdf import sample_pdf
from tests.interop.samples import SAMPLES, sample

H41 = "000.00.00.H41"
G22 = "000.00.00.G22"
SENT = datetime(2025, 6, 19, 2, 30, 15, tzinfo=UTC)


def export(package: DocumentPackage | StatusPackage) -> bytes:
    if isinstance(package, StatusPackage):
        return status_to_edxml(package)
    return document_to_edxml(package)


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_every_sample_round_trips(path: Path, tmp_path: Path) -> None:
    original = parse_package(path.read_bytes(), spool_dir=tmp_path)
    written = export(original)
    again = parse_package(written, spool_dir=tmp_path)
    assert again == original  # parse(export(x)) == x
    assert export(again) == written  # and export is a fixed point from there
    if isinstance(original, DocumentPackage) and isinstance(again, DocumentPackage):
        for before, after in zip(original.files, again.files, strict=True):
            assert after.path.read_bytes() == before.path.read_bytes()
    assert not any("stray" in w or "dropped" in w for w in again.warnings)
    original.discard()
    again.discard()


def _qualified_names(raw: bytes) -> dict[tuple[str, ...], str]:
    """Each element's path of local names → its name as written (prefix included)."""
    parser = expat.ParserCreate()  # no namespace processing: we want the prefixes
    names: dict[tuple[str, ...], str] = {}
    path: list[str] = []

    def start(name: str, _attrs: dict[str, str]) -> None:
        path.append(name.split(":")[-1])
        names.setdefault(tuple(path), name)

    def end(_name: str) -> None:
        path.pop()

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.Parse(raw[raw.index(b"<?xml") :], True)
    return names


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_export_writes_the_prefixes_as_the_samples_do(path: Path) -> None:
    raw = path.read_bytes()
    package = parse_package(raw)
    written = export(package)
    package.discard()
    assert written.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<edXML xmlns="')
    ours, theirs = _qualified_names(written), _qualified_names(raw)
    for where, name in ours.items():
        if where in theirs:
            assert name == theirs[where], where
        if len(where) > 1 and where[1] == "edXMLEnvelope":
            assert name.startswith("edXML:"), where
    shared = [w for w in theirs if "Signature" not in w]
    assert all(w in ours for w in shared), set(shared) - set(ours)


def test_export_keeps_trace_hops_in_order_in_vietnam_time() -> None:
    package = new_document_package(
        Envelope(recipients=[H41], subject="Thử"),
        sender_id=G22,
        document_id=f"{G22},2025/06/19,1/VPCP",
        sent_at=SENT + timedelta(microseconds=123),
    )
    relayed = with_hop(package, "000.00.00.H26", SENT + timedelta(minutes=1))
    written = document_to_edxml(relayed).decode()
    first = written.index(
        "<edXML:OrganId>000.00.00.G22</edXML:OrganId>", written.index("<edXML:TraceHeaderList>")
    )
    second = written.index("<edXML:OrganId>000.00.00.H26</edXML:OrganId>")
    assert first < second
    assert "<edXML:Timestamp>2025/06/19 09:30:15</edXML:Timestamp>" in written
    assert "<edXML:Timestamp>2025/06/19 09:31:15</edXML:Timestamp>" in written
    again = parse_package(written.encode())
    assert isinstance(again, DocumentPackage)
    assert again.trace == (
        TraceHeader(G22, SENT),
        TraceHeader("000.00.00.H26", SENT + timedelta(minutes=1)),
    )


def test_a_docex_document_with_its_pdf_round_trips(tmp_path: Path) -> None:
    pdf = tmp_path / "cong-van.pdf"
    pdf.write_bytes(sample_pdf("Công văn gửi Nghệ An"))
    appendix = tmp_path / "phu-luc.xlsx"
    appendix.write_bytes(b"PK\x03\x04 not really a spreadsheet")
    envelope = Envelope(
        recipients=[H41, "001.00.41.H41"],
        code=CodeInfo(number="7816", notation="VPCP-TTĐT"),
        document_type=DocumentType(type=1, name="Công văn"),
        subject="V/v kết nối, liên thông",
        summary="Dòng một\r\nDòng hai & <ba>",
        promulgation=Promulgation(place="Hà Nội", date=date(2025, 6, 19)),
        urgency="very_urgent",
        due_date=date(2025, 7, 1),
        steering=True,
        business=Business(type="update", refers_to="doc-1", reason="Sửa số trang"),
        in_reply_to="doc-0",
    )
    files = [
        PackageFile.from_path(pdf, role="main", content_id="cid:1", content_type="application/pdf"),
        PackageFile.from_path(
            appendix,
            role="attachment",
            content_id="cid:2",
            content_type="application/vnd.ms-excel",
            description="Phụ lục",
        ),
    ]
    package = new_document_package(
        envelope,
        sender_id=G22,
        document_id=f"{G22},2025/06/19,7816/VPCP-TTĐT",
        files=files,
        sent_at=SENT,
        refers_to=f"{G22},2025/06/01,7000/VPCP-TTĐT",
        response_for=[ResponseFor(f"{H41},2025/05/30,12/UBND", organ_id=H41)],
    )
    known = {f"{G22},2025/06/01,7000/VPCP-TTĐT": "doc-1", f"{H41},2025/05/30,12/UBND": "doc-0"}
    again = parse_package(document_to_edxml(package), spool_dir=tmp_path, resolve=known.get)
    assert isinstance(again, DocumentPackage)
    assert again == package
    assert again.envelope == envelope  # docex's own envelope, unchanged
    assert again.main is not None
    assert again.main.path.read_bytes() == pdf.read_bytes()
    again.discard()


def test_a_status_of_docex_round_trips() -> None:
    status = StatusPackage(
        code="03",
        from_id=H41,
        response_for=ResponseFor(f"{G22},2025/06/19,7816/VPCP-TTĐT", organ_id=G22),
        timestamp=SENT,
        note="Đã vào sổ, số đến 123",
        staff=StaffInfo(department="Văn thư", staff="Nguyễn Văn A"),
    )
    assert parse_package(status_to_edxml(status)) == status


def test_a_classified_document_is_not_exported() -> None:
    package = new_document_package(
        Envelope(recipients=[H41], subject="Mật", classification=Classification.SECRET),
        sender_id=G22,
        document_id="x",
        sent_at=SENT,
    )
    with pytest.raises(EdxmlInvalid) as caught:
        document_to_edxml(package)
    assert caught.value.code == "edxml_classified"


@pytest.mark.parametrize(
    ("change", "code"),
    [
        (
            {"envelope": Envelope(recipients=["group:provinces"], subject="x")},
            "edxml_invalid_organ_id",
        ),
        ({"extensions": {"MessageHeader": {"ToPlaces": 3}}}, "edxml_invalid_extensions"),
        ({"extensions": {"Elsewhere": {}}}, "edxml_invalid_extensions"),
        ({"extensions": {"MessageHeader": {"bad name": "x"}}}, "edxml_invalid_extensions"),
        ({"document_id": "a\x00b"}, "edxml_unencodable_text"),
    ],
)
def test_what_edxml_cannot_carry_is_refused_on_export(change: dict[str, Any], code: str) -> None:
    package = new_document_package(
        Envelope(recipients=[H41], subject="x"), sender_id=G22, document_id="x", sent_at=SENT
    )
    with pytest.raises(EdxmlInvalid) as caught:
        document_to_edxml(dataclasses.replace(package, **change))
    assert caught.value.code == code


_codes = st.builds(
    "{}.{}.{}.{}{}".format,
    st.from_regex(r"[0-9]{3}", fullmatch=True),
    st.from_regex(r"[0-9]{2}", fullmatch=True),
    st.from_regex(r"[0-9]{2}", fullmatch=True),
    st.sampled_from("ABCDGHIK"),
    st.from_regex(r"[0-9]{2}", fullmatch=True),
)
_text = (
    st.text(
        alphabet=st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Zl", "Zp")),
        min_size=1,
        max_size=60,
    )
    .map(str.strip)
    .filter(bool)
)


@st.composite
def envelopes(draw: st.DrawFn) -> Envelope:
    return Envelope(
        recipients=draw(st.lists(_codes, min_size=1, max_size=4)),
        code=draw(
            st.none()
            | st.builds(
                CodeInfo, number=_text.map(lambda t: t[:20].strip()).filter(bool), notation=_text
            )
        ),
        document_type=draw(
            st.none() | st.builds(DocumentType, type=st.integers(0, 999), name=_text)
        ),
        subject=draw(_text),
        summary=draw(st.none() | _text),
        promulgation=draw(
            st.none()
            | st.builds(
                Promulgation, place=_text, date=st.dates(date(1990, 1, 1), date(2100, 1, 1))
            )
        ),
        urgency=draw(st.sampled_from(["normal", "urgent", "very_urgent", "flash"])),
        due_date=draw(st.none() | st.dates(date(1990, 1, 1), date(2100, 1, 1))),
        steering=draw(st.booleans()),
        business=draw(
            st.none()
            | st.builds(
                Business,
                type=st.sampled_from(["new", "revoke", "update", "replace"]),
                reason=st.none() | _text,
            )
        ),
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(envelope=envelopes(), sender=_codes)
def test_any_envelope_round_trips(envelope: Envelope, sender: str) -> None:
    package = new_document_package(envelope, sender_id=sender, document_id="id-1", sent_at=SENT)
    again = parse_package(document_to_edxml(package))
    assert again == package


class _Generated:
    """A document package with a large attachment, produced as it is read (never whole)."""

    def __init__(self, size: int) -> None:
        head, _, tail = document_to_edxml(
            new_document_package(
                Envelope(recipients=[H41], subject="Lớn"),
                sender_id=G22,
                document_id="big",
                sent_at=SENT,
                files=[],
            )
        ).partition(b"</AttachmentEncoded>")
        self.parts: Iterator[bytes] = self._parts(head, tail, size)
        self.buffer = b""

    @staticmethod
    def _parts(head: bytes, tail: bytes, size: int) -> Iterator[bytes]:
        yield head.replace(
            b'<edXML:edXMLManifest version="1.0">',
            b'<edXML:edXMLManifest version="1.0"><edXML:Reference><edXML:ContentId>cid:1'
            b"</edXML:ContentId></edXML:Reference>",
        )
        yield (
            b"<Attachment><ContentId>cid:1</ContentId>"
            b'<edXML:ContentTransferEncoded xmlns:edXML="http://www.mic.gov.vn/TBT/QCVN_102_2016">'
        )
        line = b"QUFB" * 16_384
        for _ in range(size // (len(line) * 3 // 4)):
            yield line
        yield b"</edXML:ContentTransferEncoded></Attachment></AttachmentEncoded>" + tail

    def read(self, n: int, /) -> bytes:
        while len(self.buffer) < n:
            try:
                self.buffer += next(self.parts)
            except StopIteration:
                break
        out, self.buffer = self.buffer[:n], self.buffer[n:]
        return out


def test_a_large_attachment_streams_with_bounded_memory(tmp_path: Path) -> None:
    size = 24 * 1024 * 1024
    tracemalloc.start()
    try:
        package = parse_package(_Generated(size), spool_dir=tmp_path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert isinstance(package, DocumentPackage)
    (file,) = package.files
    assert file.size == size
    assert file.path.stat().st_size == size
    assert peak < 4 * 1024 * 1024, peak  # a few 64 KiB chunks, not the 32 MB of base64
    written = tmp_path / "out.edxml"
    with written.open("wb") as out:
        write_document(package, out)
    assert written.stat().st_size > size * 4 // 3
    package.discard()


def test_the_sample_attachment_survives_export_byte_for_byte(tmp_path: Path) -> None:
    raw = sample("edoc_update.edxml")
    package = parse_package(raw, spool_dir=tmp_path)
    assert isinstance(package, DocumentPackage)
    written = document_to_edxml(package)
    start = raw.index(b'">', raw.index(b"<edXML:ContentTransferEncoded")) + 2
    data = raw[start : raw.index(b"</edXML:ContentTransferEncoded>")]
    assert data in written  # the same base64, unwrapped as the sample has it
    package.discard()
