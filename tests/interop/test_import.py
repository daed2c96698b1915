"""edXML → docex over the national hub's real samples: every field, every quirk."""

from __future__ import annotations

import base64
import hashlib
import io
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from docex.documents.envelope import (
    Business,
    CodeInfo,
    DocumentType,
    Envelope,
    Promulgation,
    SignerInfo,
)
from docex.interop import (
    DocumentPackage,
    ResponseFor,
    StaffInfo,
    StatusPackage,
    TraceHeader,
    parse_package,
)
from docex.interop.importer import Resolve
from docex.interop.safexml import Readable
from docex.kit.samplepdf import sample_pdf
from tests.interop.samples import (
    DOCUMENTS,
    SAMPLES,
    STATUSES,
    attachment_of,
    edit,
    sample,
    small_document,
)

G22 = "000.00.00.G22"
H41 = "000.00.00.H41"
H14 = "000.00.00.H14"
G17 = "000.00.00.G17"
SUBJECT = "V/v kết nối, liên thông phần mềm quản lý văn bản"


def document(
    raw: bytes | Readable, *, spool_dir: Path | None = None, resolve: Resolve | None = None
) -> DocumentPackage:
    package = parse_package(raw, spool_dir=spool_dir, resolve=resolve)
    assert isinstance(package, DocumentPackage)
    return package


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_every_sample_is_read_as_what_its_name_says(path: Path, tmp_path: Path) -> None:
    with path.open("rb") as stream:
        package = parse_package(stream, spool_dir=tmp_path)
    if path.name.startswith("edoc_"):
        assert isinstance(package, DocumentPackage)
        assert package.envelope.subject == SUBJECT
        assert len(package.files) == 1
    else:
        assert isinstance(package, StatusPackage)
        assert package.code == path.stem.rsplit("_", 1)[1]
    package.discard()
    assert list(tmp_path.iterdir()) == []


def test_new_document_maps_onto_docex_envelope(tmp_path: Path) -> None:
    package = document(sample("edoc_new.edxml"), spool_dir=tmp_path)
    assert package.envelope == Envelope(
        recipients=["28.22.H17"],  # a short organ id, as found in real traffic
        code=CodeInfo(number="74fass22", notation="VPCP-TTĐT"),
        document_type=DocumentType(type=1, name="Công văn"),
        subject=SUBJECT,
        summary=SUBJECT,
        promulgation=Promulgation(place="Hà Nội", date=date(2019, 1, 16)),
        signer=SignerInfo(
            competence="TL. BO TRUONG",
            position="Cuc truong cuc ung dung cong nghe thong tin",
            full_name="Nguyen Thanh Phuc",
        ),
        urgency="normal",
        due_date=date(2018, 9, 28),
        steering=True,
        business=Business(type="new", reason="Văn bản điện tử mới"),
    )
    assert package.sender_id == "002.00.20.H13"
    assert package.document_id == "000.00.00.G22,2015/09/30,7816/VPCP-TTĐT"
    # The id's date part (30 February) is no date: DocumentId is opaque and kept as it is.
    assert package.refers_to == "000.00.00.G22,2014/02/30,7806/VPCP-TTĐT"
    # 2018/09/28 00:00:00 in Vietnam is 17:00 UTC the day before.
    assert package.trace == (TraceHeader(G22, datetime(2018, 9, 27, 17, 0, tzinfo=UTC)),)
    assert package.response_for == ()


def test_what_docex_has_no_field_for_is_kept_at_its_edxml_path() -> None:
    package = document(small_document(name="edoc_new.edxml").encode())
    header = package.extensions["MessageHeader"]
    assert header["From"]["OrganName"].startswith("UBND xã Hòa Tiến")
    assert header["To"] == [
        {
            "OrganId": "28.22.H17",
            "OrganizationInCharge": "UBND xã Hòa Sơn - UBND huyện Hòa Vang - Thành phố Đà Nẵng",
            "OrganName": "UBND xã Hòa Sơn - UBND huyện Hòa Vang - Thành phố Đà Nẵng",
            "OrganAdd": "số 62 - Võ Thị Sáu - Ngô Quyền - Hải Phòng",
            "Email": "bxd@moc.gov.vn",
            "Telephone": "(84-4) 3821 5137",
            "Fax": "(023)37366617",
            "Website": "www.haiphong.gov.vn",
        }
    ]
    assert header["DocumentType"] == {"TypeDetail": "0"}
    assert header["OtherInfo"] == {
        "SphereOfPromulgation": "Liên thông văn bản quốc gia",
        "TyperNotation": "TVC",
        "PromulgationAmount": "2",
        "PageAmount": "22",
        "Direction": "false",
        "Appendixes": {"Appendix": "Công văn về việc kết nối, liên thông phần mềm quản lý văn bản"},
    }
    assert header["ToPlaces"] == {
        "Place": ["Cac bo va co quan ngang bo", "Uy ban nhan dan cac tinh, TP"]
    }
    business = package.extensions["TraceHeaderList"]["Bussiness"]
    assert business["Paper"] == "0"
    assert business["StaffInfo"]["Staff"] == "Nguyễn Thị Ngọc Trâm"


def test_stray_bytes_before_the_declaration_are_skipped_with_a_warning() -> None:
    raw = sample("edoc_new.edxml")
    assert raw.startswith(b"1212<?xml")
    package = document(raw)
    assert "skipped 4 stray bytes '1212' before the XML declaration" in package.warnings
    assert package == document(raw[4:])  # the same package as without them


def test_attachment_is_decoded_into_a_spool_file_as_delivered(tmp_path: Path) -> None:
    raw = sample("edoc_new.edxml")
    expected = attachment_of(raw)
    package = document(io.BytesIO(raw), spool_dir=tmp_path)
    (file,) = package.files
    assert file.path.parent == tmp_path
    assert file.path.read_bytes() == expected
    assert (file.size, file.sha256) == (len(expected), hashlib.sha256(expected).hexdigest())
    assert (file.name, file.content_id, file.description) == (
        "1896_QD-TTg_m_294779.doc",
        "cid:209",
        "1896_QD-TTg_m_294779.doc",
    )
    # Typed application/zip, named .doc, bytes a ZIP archive: kept as delivered, reported.
    assert file.content_type == "application/zip"
    assert expected.startswith(b"PK\x03\x04")
    assert file.role == "attachment"  # no PDF in it, so no main file
    assert package.main is None
    assert any("is a ZIP archive, not the .doc file" in w for w in package.warnings)
    spooled = file.as_spooled()
    assert (spooled.path, spooled.sha256, spooled.role) == (file.path, file.sha256, "attachment")
    package.discard()
    assert not file.path.exists()


def test_a_pdf_attachment_is_the_main_file() -> None:
    pdf = sample_pdf("edXML main file")
    package = document(small_document(pdf).encode())
    assert package.main is not None
    assert package.main.path.read_bytes() == pdf
    assert not any("ZIP" in w for w in package.warnings)
    package.discard()


def test_placeholder_xmldsig_is_recorded_and_never_trusted() -> None:
    package = document(small_document().encode())
    signature = package.signature
    assert signature is not None
    assert signature.signature_method == "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
    assert signature.digest_method == "http://www.w3.org/2000/09/xmldsig#sha1"
    assert signature.subject_name == "CN=user05"
    assert (signature.certificate, signature.placeholder) == (False, True)
    assert not hasattr(signature, "trusted")
    assert any("never trusted" in w and "rsa-sha1" in w for w in package.warnings)


@pytest.mark.parametrize(
    ("name", "kind", "refers_to", "reference"),
    [
        (
            "edoc_new.edxml",
            "new",
            "000.00.00.G22,2014/02/30,7806/VPCP-TTĐT",
            "000.00.00.G22,2014/02/30,7806/VPCP-TTĐT",
        ),
        (
            "edoc_revocation.edxml",
            "revoke",
            None,
            "000.00.00.G22,2015/09/30,7816/VPCP-TTĐT",  # revoked under its own DocumentId
        ),
        (
            "edoc_update.edxml",
            "update",
            "000.00.00.G22,2014/02/30,7806/VPCP-TTĐT",
            "000.00.00.G22,2014/02/30,7806/VPCP-TTĐT",
        ),
        (
            "edoc_replacement.edxml",
            "replace",
            None,
            "000.00.00.G22,2014/01/30,7806/VPCP-TTĐT",  # the first ReplacementInfo
        ),
    ],
)
def test_every_business_type(
    name: str, kind: str, refers_to: str | None, reference: str | None
) -> None:
    package = document(small_document(name=name).encode())
    assert package.envelope.business is not None
    assert package.envelope.business.type == kind
    assert package.envelope.business.refers_to is None  # offline: no docex id to point at
    assert (package.refers_to, package.reference) == (refers_to, reference)
    if name != "edoc_new.edxml":
        assert package.envelope.recipients == [H41, H14, G17]


def test_replacement_and_update_lists_are_kept() -> None:
    replacement = document(small_document(name="edoc_replacement.edxml").encode())
    infos = replacement.extensions["TraceHeaderList"]["Bussiness"]["ReplacementInfoList"]
    assert infos["ReplacementInfo"][0]["OrganIdList"] == {"OrganId": [H41, H14]}
    update = document(small_document(name="edoc_update.edxml").encode())
    receivers = update.extensions["TraceHeaderList"]["Bussiness"]["BussinessDocumentInfo"]
    assert receivers["ReceiverList"]["Receiver"][1] == {"OrganId": H14, "ReceiverType": "1"}


def test_revocation_answers_the_document_named_in_response_for() -> None:
    package = document(small_document(name="edoc_revocation.edxml").encode())
    assert package.response_for == (
        ResponseFor(
            document_id="000.00.04.G14,2012/08/06,267/VPCP-TTĐT",
            organ_id=H14,
            code="267/VPCP-TTĐT",
            promulgation_date=date(2018, 9, 28),
        ),
    )
    assert package.envelope.in_reply_to is None


def test_a_resolver_turns_edxml_ids_into_docex_ids() -> None:
    known = {
        "000.00.00.G22,2015/09/30,7816/VPCP-TTĐT": "doc-revoked",
        "000.00.04.G14,2012/08/06,267/VPCP-TTĐT": "doc-answered",
    }
    package = document(small_document(name="edoc_revocation.edxml").encode(), resolve=known.get)
    assert package.envelope.business is not None
    assert package.envelope.business.refers_to == "doc-revoked"
    assert package.envelope.in_reply_to == "doc-answered"
    unknown = document(
        small_document(name="edoc_revocation.edxml").encode(), resolve=lambda _edxml_id: None
    )
    assert unknown.envelope.in_reply_to is None
    assert any("names no document known here" in w for w in unknown.warnings)


@pytest.mark.parametrize("path", STATUSES, ids=lambda p: p.name)
def test_every_status_maps_to_code_reference_author_time_and_staff(path: Path) -> None:
    package = parse_package(path.read_bytes())
    assert isinstance(package, StatusPackage)
    code = path.stem.rsplit("_", 1)[1]
    assert package.code == code
    # 13 (recall requested) comes from the sender; every other status from the recipient.
    assert package.from_id == (G22 if code == "13" else H41)
    assert package.document_id == "000.00.00.G22,2015/09/30,7816/VPCP-TTĐT"
    assert package.response_for.code == "7816/VPCP-TTĐT"
    assert package.response_for.promulgation_date == date(2015, 9, 30)
    assert package.response_for.organ_id == (H41 if code == "13" else G22)
    assert package.timestamp == datetime(2015, 9, 20, 4, 8, 36, tzinfo=UTC)
    assert package.staff == StaffInfo(
        department="Phong hanh chinh",
        staff="Nguyen thi ngoc tram",
        email="ngoctram@nghean.vn",
        mobile="84912000001",
    )
    assert package.note
    assert package.extensions["MessageHeader"]["From"]["Telephone"]
    assert package.signature is None
    assert package.warnings == ()


def test_rejection_keeps_its_reason() -> None:
    package = parse_package(sample("status_rejection_02.edxml"))
    assert isinstance(package, StatusPackage)
    assert package.note == (
        "Văn thư - Phòng Văn thư - Lưu trữ: Từ chối không tiếp nhận văn bản điện tử"
    )


@pytest.mark.parametrize(
    ("priority", "urgency"),
    [("0", "normal"), ("1", "urgent"), ("2", "very_urgent"), ("3", "flash"), ("4", "flash")],
)
def test_priority_becomes_urgency(priority: str, urgency: str) -> None:
    raw = edit(small_document(), "<edXML:Priority>0<", f"<edXML:Priority>{priority}<")
    package = document(raw)
    assert package.envelope.urgency == urgency
    timed = any("hỏa tốc hẹn giờ" in w for w in package.warnings)
    assert timed == (priority == "4")


@pytest.mark.parametrize(
    ("written", "moment"),
    [
        ("2015/09/20 11:08:36", datetime(2015, 9, 20, 4, 8, 36, tzinfo=UTC)),
        ("2015-09-20 11:08:36", datetime(2015, 9, 20, 4, 8, 36, tzinfo=UTC)),
        ("2015-09-20T11:08:36+07:00", datetime(2015, 9, 20, 4, 8, 36, tzinfo=UTC)),
        ("2015-09-20T04:08:36Z", datetime(2015, 9, 20, 4, 8, 36, tzinfo=UTC)),
    ],
)
def test_timestamps_are_vietnam_time_unless_they_say_otherwise(
    written: str, moment: datetime
) -> None:
    from tests.interop.samples import status

    raw = edit(status(), "2015/09/20 11:08:36", written)
    package = parse_package(raw)
    assert isinstance(package, StatusPackage)
    assert package.timestamp == moment
    assert package.timestamp.tzinfo is UTC


def test_documents_sample_count_covers_every_business_type() -> None:
    assert sorted(p.name for p in DOCUMENTS) == [
        "edoc_new.edxml",
        "edoc_replacement.edxml",
        "edoc_revocation.edxml",
        "edoc_update.edxml",
    ]
    codes = sorted(p.stem.rsplit("_", 1)[1] for p in STATUSES)
    assert codes == ["01", "02", "03", "04", "05", "06", "13", "15", "16"]


def test_a_real_xmldsig_block_is_still_only_recorded(tmp_path: Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "user05")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    der = base64.b64encode(certificate.public_bytes(serialization.Encoding.DER)).decode()
    text = small_document().replace(
        "<Signature>", '<Signature xmlns="http://www.w3.org/2000/09/xmldsig#">'
    )
    package = document(edit(text, "MIIFqTCCBJG", der))
    assert package.signature is not None
    assert (package.signature.certificate, package.signature.placeholder) == (True, False)
    assert any("not verified, never trusted" in w for w in package.warnings)


def test_utf16_is_read_like_utf8() -> None:
    from tests.interop.samples import status

    text = status()
    utf16 = text.replace('encoding="UTF-8"', 'encoding="UTF-16"').encode("utf-16")
    assert parse_package(utf16) == parse_package(text.encode())


def test_limits_follow_the_node_settings() -> None:
    from docex.config import LimitSettings
    from docex.interop import EdxmlLimits

    limits = EdxmlLimits.from_settings(LimitSettings(max_body_bytes=4096, max_files=3))
    assert (limits.max_bytes, limits.max_files) == (4096, 3)


def test_unknown_elements_are_kept_in_the_header_and_reported_elsewhere() -> None:
    text = small_document()
    text = text.replace(
        "<edXML:ToPlaces>",
        "<edXML:Classification2022>Mật</edXML:Classification2022><edXML:ToPlaces>",
    )
    text = text.replace(
        "</edXML:edXMLManifest>", "<edXML:Note>x</edXML:Note></edXML:edXMLManifest>"
    )
    text = text.replace("<edXML:Timestamp>", "<edXML:Hop>relay</edXML:Hop><edXML:Timestamp>")
    package = document(text.encode())
    assert package.extensions["MessageHeader"]["Classification2022"] == "Mật"
    assert any("edXMLManifest/Note" in w for w in package.warnings)
    assert any("TraceHeader/Hop" in w for w in package.warnings)
