"""edXML over the API: a legacy system's package goes through docex's own intake and status
paths (POST /api/v1/edxml), and documents and receipts come back out as edXML that the importer
reads back unchanged.

The packages are the national hub's samples, adapted with the exporter the way a legacy
system in one of the demo agencies would send them: its own agency in ``From``, a demo agency
in ``To``, and a PDF signed by the sender (the hub's samples carry only a ZIP-wrapped .doc).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from docex.app import create_app
from docex.config import LimitSettings, Settings
from docex.interop import (
    DocumentPackage,
    PackageFile,
    StatusPackage,
    document_to_edxml,
    parse_package,
)
from docex.kit.samplepdf import sample_pdf
from tests.documents.test_bad_input import REFUSED, assert_refused, snapshot, spool_files
from tests.helpers import (
    G22,
    H26,
    H41,
    audit_events,
    auth,
    counts,
    deliver,
    envelope,
    node_of,
    pdf,
    send,
    sign_as,
)
from tests.interop.samples import DOCUMENTS, STATUSES, edit, names, sample, status

EDXML = "/api/v1/edxml"
XML = {"Content-Type": "application/xml"}
SAMPLE_ID = "000.00.00.G22,2015/09/30,7816/VPCP-TTĐT"  # the status samples answer this one


def read(raw: bytes, tmp_path: Path) -> Any:
    return parse_package(raw, spool_dir=tmp_path)


def legacy_document(
    client: TestClient,
    tmp_path: Path,
    name: str = "edoc_new.edxml",
    *,
    sender: str = G22,
    recipients: tuple[str, ...] = (H41,),
    document_id: str | None = None,
    signed_by: str | None = None,
) -> bytes:
    """A hub sample as the software of ``sender`` would send it: written by docex's exporter
    with its From, To and DocumentId rewritten and a signed PDF as the main file."""
    package = parse_package(sample(name), spool_dir=tmp_path)
    assert isinstance(package, DocumentPackage)
    main = tmp_path / f"{name}.pdf"
    main.write_bytes(sign_as(client, signed_by or sender, sample_pdf(f"Công văn {name}")))
    pdf = PackageFile.from_path(
        main, role="main", content_id="cid:main", content_type="application/pdf"
    )
    envelope = package.envelope.model_copy(update={"recipients": list(recipients)})
    adapted = dataclasses.replace(
        package,
        sender_id=sender,
        envelope=envelope,
        document_id=document_id or package.document_id,
        files=(pdf, *package.files),
    )
    return document_to_edxml(adapted)


def post(client: TestClient, body: bytes | str, who: str = G22, role: str = "system") -> Response:
    credentials = client.credentials
    headers = {**XML, **auth(credentials, who, role)}
    response: Response = client.post(EDXML, content=body, headers=headers)
    return response


@pytest.fixture
def api(client: TestClient, credentials: dict) -> TestClient:
    client.credentials = credentials
    return client


def get(client: TestClient, url: str, who: str) -> Response:
    response: Response = client.get(url, headers=auth(client.credentials, who))
    return response


# -- documents in --------------------------------------------------------------------------------


def test_a_legacy_package_goes_through_intake_and_reaches_the_recipients_inbox(
    api: TestClient, tmp_path: Path
) -> None:
    raw = legacy_document(api, tmp_path)
    response = post(api, raw)
    assert response.status_code == 201, response.text
    doc = response.json()
    assert response.headers["Location"] == f"/api/v1/documents/{doc['id']}"
    assert doc["sender_id"] == G22
    assert doc["business_id"] == "000.00.00.G22,2015/09/30,7816/VPCP-TTĐT"
    assert doc["message_id"].startswith("edxml.")
    assert [f["role"] for f in doc["files"]] == ["main", "attachment"]
    assert doc["files"][1]["content_type"] == "application/zip"  # the .doc, as delivered
    assert {s["role"] for s in doc["signatures"]} == {"signer", "seal"}
    assert all(s["valid"] for s in doc["signatures"])
    assert doc["envelope"]["subject"].startswith("V/v kết nối")
    deliver(api)
    inbox = get(api, "/api/v1/inbox", H41).json()["items"]
    assert [i["document_id"] for i in inbox] == [doc["id"]]
    assert inbox[0]["status"] == "01"
    receipts = get(api, f"/api/v1/documents/{doc['id']}/receipts", G22).json()["items"]
    assert [r["code"] for r in receipts] == ["01"]
    assert receipts[0]["signed"]


def test_the_same_package_twice_is_one_document_and_other_content_is_a_conflict(
    api: TestClient, tmp_path: Path
) -> None:
    raw = legacy_document(api, tmp_path)
    first = post(api, raw)
    assert first.status_code == 201, first.text
    again = post(api, raw)
    assert again.status_code == 200, again.text
    assert again.json()["id"] == first.json()["id"]
    before = counts(api)
    other = raw.replace("V/v kết nối".encode(), "V/v sửa đổi kết nối".encode(), 1)
    assert other != raw
    conflict = post(api, other)
    assert conflict.status_code == 409, conflict.text
    assert conflict.json()["error"] == "message_id_conflict"
    assert counts(api) == before


def test_a_package_from_another_agency_is_403_and_stores_nothing(
    api: TestClient, tmp_path: Path
) -> None:
    raw = legacy_document(api, tmp_path, sender=H26)  # signed by H26, claims H26
    before = snapshot(api)
    response = post(api, raw, who=G22)
    assert_refused(api, response, 403, "edxml_sender_mismatch", before)
    assert "000.00.00.H26" in response.json()["detail"]


def test_a_pdf_signed_by_another_agency_is_refused_as_a_send_would_be(
    api: TestClient, tmp_path: Path
) -> None:
    raw = legacy_document(api, tmp_path, signed_by=H26)
    before = snapshot(api)
    response = post(api, raw)
    assert response.status_code == 422, response.text
    assert_refused(api, response, 422, response.json()["error"], before)


def test_a_package_without_a_pdf_is_refused_as_a_send_without_main(api: TestClient) -> None:
    raw = edit(
        sample("edoc_new.edxml").decode("utf-8").removeprefix("1212"),
        "<edXML:OrganId>002.00.20.H13</edXML:OrganId>",
        f"<edXML:OrganId>{G22}</edXML:OrganId>",
    )
    raw = raw.replace(
        b"<edXML:OrganId>28.22.H17</edXML:OrganId>",
        f"<edXML:OrganId>{H41}</edXML:OrganId>".encode(),
    )
    before = snapshot(api)
    response = post(api, raw)
    assert_refused(api, response, 422, "missing_main", before)


@pytest.mark.parametrize(
    ("name", "reference"),
    [
        ("edoc_replacement.edxml", "000.00.00.G22,2014/01/30,7806/VPCP-TTĐT"),
        ("edoc_update.edxml", "000.00.00.G22,2014/02/30,7806/VPCP-TTĐT"),
        ("edoc_revocation.edxml", SAMPLE_ID),
    ],
)
def test_revisions_name_the_document_they_revise_by_its_edxml_id(
    api: TestClient, tmp_path: Path, name: str, reference: str
) -> None:
    original = post(api, legacy_document(api, tmp_path, document_id=reference))
    assert original.status_code == 201, original.text
    deliver(api)
    revision = post(api, legacy_document(api, tmp_path, name))
    assert revision.status_code == 201, revision.text
    business = revision.json()["envelope"]["business"]
    assert business["refers_to"] == original.json()["id"]
    assert revision.json()["id"] != original.json()["id"]


def test_a_revision_of_an_unknown_document_is_refused(api: TestClient, tmp_path: Path) -> None:
    raw = legacy_document(api, tmp_path, "edoc_update.edxml")
    before = snapshot(api)
    response = post(api, raw)
    assert_refused(api, response, 422, "reference_required", before)


# -- statuses in ---------------------------------------------------------------------------------

# What must be reported before each sample's status is legal (routing/statuses.py), by whom.
BEFORE: dict[str, list[tuple[str, str]]] = {
    "01": [],
    "02": [],
    "03": [],
    "04": [("03", H41)],
    "05": [("03", H41)],
    "06": [("03", H41)],
    "13": [],
    "15": [("13", G22)],
    "16": [("13", G22)],
}
SAMPLE_OF = {p.stem.rsplit("_", 1)[1]: p.name for p in STATUSES}


def sent_to_h41(api: TestClient, tmp_path: Path) -> dict[str, Any]:
    response = post(api, legacy_document(api, tmp_path, document_id=SAMPLE_ID))
    assert response.status_code == 201, response.text
    deliver(api)
    return dict(response.json())


@pytest.mark.parametrize("path", STATUSES, ids=lambda p: p.name)
def test_every_status_sample_reaches_the_senders_view_with_a_signed_receipt(
    api: TestClient, tmp_path: Path, path: Path
) -> None:
    doc = sent_to_h41(api, tmp_path)
    code = path.stem.rsplit("_", 1)[1]
    for earlier, who in BEFORE[code]:
        response = post(api, status(SAMPLE_OF[earlier]), who=who)
        assert response.status_code == 201, response.text
    author = G22 if code == "13" else H41
    response = post(api, path.read_bytes(), who=author)
    if code == "01":  # the node issued 01 when it delivered: a legacy system's 01 is that one
        assert response.status_code == 200, response.text
    else:
        assert response.status_code == 201, response.text
    body = response.json()
    assert body["code"] == code
    assert body["from_agency_id"] == author
    assert body["signed"]
    receipts = get(api, f"/api/v1/documents/{doc['id']}/receipts", G22).json()["items"]
    assert receipts[-1]["code"] == code
    assert receipts[-1]["id"] == body["id"]
    if code not in ("13", "15", "16"):  # a recall's answer is the delivery's business state
        view = get(api, f"/api/v1/documents/{doc['id']}", G22).json()
        assert view["recipients"][0]["status"] == code


def test_a_status_package_sent_twice_is_one_receipt(api: TestClient, tmp_path: Path) -> None:
    sent_to_h41(api, tmp_path)
    first = post(api, status("status_acceptance_03.edxml"), who=H41)
    again = post(api, status("status_acceptance_03.edxml"), who=H41)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]


def test_a_status_from_another_agency_than_the_callers_is_403(
    api: TestClient, tmp_path: Path
) -> None:
    sent_to_h41(api, tmp_path)
    before = snapshot(api)
    response = post(api, status("status_acceptance_03.edxml"), who=H26)
    assert_refused(api, response, 403, "edxml_sender_mismatch", before)


def test_a_status_for_a_document_the_caller_never_received_is_404(
    api: TestClient, tmp_path: Path
) -> None:
    sent_to_h41(api, tmp_path)
    raw = edit(
        status(), f"<edXML:OrganId>{H41}</edXML:OrganId>", f"<edXML:OrganId>{H26}</edXML:OrganId>"
    )
    before = snapshot(api)
    response = post(api, raw, who=H26)
    assert_refused(api, response, 404, "edxml_unknown_document", before)


def test_an_illegal_status_is_refused_as_a_status_post_would_be(
    api: TestClient, tmp_path: Path
) -> None:
    sent_to_h41(api, tmp_path)
    before = snapshot(api)
    response = post(api, status("status_finish_06.edxml"), who=H41)  # 06 before 03
    assert_refused(api, response, 409, "illegal_transition", before)


# -- out, and back in ----------------------------------------------------------------------------


def _projection(package: DocumentPackage) -> dict[str, Any]:
    """What docex keeps of a document package: everything but the trace, the kept
    extensions (organ names, page counts...) and the attachments' content ids."""
    return {
        "envelope": package.envelope.model_dump(exclude={"message_id"}),
        "sender_id": package.sender_id,
        "document_id": package.document_id,
        "reference": package.reference,
        "files": [(f.role, f.name, f.content_type, f.size, f.sha256) for f in package.files],
    }


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda p: p.name)
def test_every_document_sample_round_trips_through_the_api(
    api: TestClient, tmp_path: Path, path: Path
) -> None:
    posted = legacy_document(api, tmp_path, path.name)
    expected = _projection(read(posted, tmp_path))
    if path.name == "edoc_new.edxml":  # a new document's reference names nothing known here
        expected["reference"] = None
    else:  # a revision needs the document it revises
        original = legacy_document(api, tmp_path, document_id=expected["reference"])
        assert post(api, original).status_code == 201
    response = post(api, posted)
    assert response.status_code == 201, response.text
    doc = response.json()
    deliver(api)
    for reader in (G22, H41):
        exported = get(api, f"/api/v1/documents/{doc['id']}/edxml", reader)
        assert exported.status_code == 200, exported.text
        assert exported.headers["content-type"].startswith("application/xml")
        text = exported.content.decode("utf-8")
        assert '<edXML:edXMLEnvelope xmlns:edXML="http://www.mic.gov.vn/TBT/QCVN_102_2016">' in text
        assert "<edXML:MessageHeader>" in text
        assert "<edXML:Subject>" in text
        again = read(exported.content, tmp_path)
        assert isinstance(again, DocumentPackage)
        assert _projection(again) == expected | {
            "files": [
                (f["role"], f["name"], f["content_type"], f["size"], f["sha256"])
                for f in doc["files"]
            ]
        }
        assert [f.sha256 for f in again.files] == [f["sha256"] for f in doc["files"]]
        assert again.trace[0].organ_id == G22
    # Imported again by its sender, the export is the same document: a replay.
    replay = post(api, exported_by(api, doc["id"], G22))
    assert replay.status_code == 200, replay.text
    assert replay.json()["id"] == doc["id"]
    assert spool_files(api) == []


def exported_by(api: TestClient, document_id: str, who: str) -> bytes:
    return get(api, f"/api/v1/documents/{document_id}/edxml", who).content


@pytest.mark.parametrize("path", STATUSES, ids=lambda p: p.name)
def test_every_status_sample_round_trips_through_the_api(
    api: TestClient, tmp_path: Path, path: Path
) -> None:
    doc = sent_to_h41(api, tmp_path)
    code = path.stem.rsplit("_", 1)[1]
    for earlier, who in BEFORE[code]:
        assert post(api, status(SAMPLE_OF[earlier]), who=who).status_code == 201
    author = G22 if code == "13" else H41
    receipt = post(api, path.read_bytes(), who=author).json()
    posted = read(path.read_bytes(), tmp_path)
    assert isinstance(posted, StatusPackage)
    url = f"/api/v1/documents/{doc['id']}/receipts/{receipt['id']}/edxml"
    for reader in (G22, H41):
        exported = get(api, url, reader)
        assert exported.status_code == 200, exported.text
        assert "<edXML:StatusCode>" in exported.text
        again = read(exported.content, tmp_path)
        assert isinstance(again, StatusPackage)
        assert (again.code, again.from_id, again.document_id) == (
            posted.code,
            posted.from_id,
            posted.document_id,
        )
        assert again.response_for.organ_id == G22
        if code != "01":  # 01 is the node's own receipt, without the legacy system's note
            assert again.note == posted.note
        # the receipt's own time, in whole seconds: docex records when it took the status
        assert again.timestamp.isoformat().startswith(receipt["created_at"][:19])
    assert get(api, url, H26).status_code == 404


def test_a_third_agency_gets_404_for_both_exports(api: TestClient, tmp_path: Path) -> None:
    doc = sent_to_h41(api, tmp_path)
    receipt = get(api, f"/api/v1/documents/{doc['id']}/receipts", G22).json()["items"][0]
    for url in (
        f"/api/v1/documents/{doc['id']}/edxml",
        f"/api/v1/documents/{doc['id']}/receipts/{receipt['id']}/edxml",
    ):
        response = get(api, url, H26)
        assert response.status_code == 404, response.text
        assert response.json()["error"] == "document_not_found"
    assert audit_events(api, REFUSED)[-1].detail["error"] == "document_not_found"


# -- hostile packages ----------------------------------------------------------------------------

LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(
        f'<!ENTITY lol{i} "{"&lol;" * 10 if i == 1 else f"&lol{i - 1};" * 10}">'
        for i in range(1, 10)
    )
    + ']><edXML xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016">&lol9;</edXML>'
)
XXE = (
    '<?xml version="1.0"?><!DOCTYPE edXML [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    '<edXML xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016">&xxe;</edXML>'
)
DTD = (
    '<?xml version="1.0"?><!DOCTYPE edXML SYSTEM "http://127.0.0.1:1/edxml.dtd">'
    '<edXML xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016"/>'
)
DEEP = (
    '<?xml version="1.0"?><edXML xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016">'
    + "<a>" * 100
    + "</a>" * 100
    + "</edXML>"
)


@pytest.mark.parametrize(
    ("body", "status_code", "error"),
    [
        (XXE, 400, "edxml_doctype_forbidden"),
        (DTD, 400, "edxml_doctype_forbidden"),
        (LAUGHS, 400, "edxml_doctype_forbidden"),
        (DEEP, 413, "edxml_too_deep"),
        ("<not xml", 400, "edxml_malformed"),
        ("", 400, "edxml_malformed"),
        (
            status().replace(
                'xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016"', 'xmlns="urn:other"', 1
            ),
            422,
            "edxml_wrong_namespace",
        ),
        ('<?xml version="1.0"?><html/>', 422, "edxml_wrong_namespace"),
        (
            status().replace("<edXML:StatusCode>03", "<edXML:StatusCode>99"),
            422,
            "edxml_unknown_status",
        ),
        ("GIF89a" + status(), 400, "edxml_junk_before_declaration"),
    ],
    ids=[
        "xxe",
        "dtd",
        "billion-laughs",
        "too-deep",
        "malformed",
        "empty",
        "wrong-namespace",
        "not-edxml",
        "unknown-status",
        "junk",
    ],
)
def test_hostile_packages_are_refused_with_their_code_and_nothing_is_stored(
    api: TestClient, body: str, status_code: int, error: str
) -> None:
    before = snapshot(api)
    response = post(api, body, who=H41)
    assert_refused(api, response, status_code, error, before)


@pytest.fixture
def small_api(settings: Settings, credentials: dict) -> Iterator[TestClient]:
    """A node that takes bodies of 128 KiB at most."""
    settings.limits = LimitSettings(max_body_bytes=128 * 1024)
    with TestClient(create_app(settings), raise_server_exceptions=False) as small:
        small.credentials = credentials
        yield small


def test_a_package_over_the_body_limit_is_413_and_stores_nothing(
    small_api: TestClient, tmp_path: Path
) -> None:
    raw = legacy_document(small_api, tmp_path)  # 270 KB of attachment, base64
    before = snapshot(small_api)

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(raw), 16 * 1024):
            yield raw[start : start + 16 * 1024]

    headers = {**XML, **auth(small_api.credentials, G22, "system")}
    streamed = small_api.post(EDXML, content=chunks(), headers=headers)
    assert_refused(small_api, streamed, 413, "body_too_large", before)
    before = snapshot(small_api)
    declared = post(small_api, raw)
    assert_refused(small_api, declared, 413, "body_too_large", before)


def test_a_body_that_is_not_xml_is_415(api: TestClient) -> None:
    before = snapshot(api)
    headers = {"Content-Type": "application/json", **auth(api.credentials, H41)}
    response = api.post(EDXML, content=status(), headers=headers)
    assert_refused(api, response, 415, "edxml_not_xml", before)


def test_without_credentials_nothing_is_read(api: TestClient) -> None:
    response = api.post(EDXML, content=status(), headers=XML)
    assert response.status_code == 401


def test_samples_are_all_covered() -> None:
    assert names(DOCUMENTS) == [
        "edoc_new.edxml",
        "edoc_replacement.edxml",
        "edoc_revocation.edxml",
        "edoc_update.edxml",
    ]
    assert sorted(SAMPLE_OF) == sorted(BEFORE)


def test_more_attachments_than_the_node_takes_is_413_edxml_too_many_files(
    small_api: TestClient, tmp_path: Path
) -> None:
    settings = node_of(small_api).settings
    settings.limits.max_files = 3
    package = read(legacy_document(small_api, tmp_path), tmp_path)
    main = next(f for f in package.files if f.role == "main")
    extra = []
    for n in range(3):
        path = tmp_path / f"phu-luc-{n}.txt"
        path.write_bytes(b"phu luc %d" % n)
        extra.append(
            PackageFile.from_path(
                path, role="attachment", content_id=f"cid:{n}", content_type="text/plain"
            )
        )
    raw = document_to_edxml(dataclasses.replace(package, files=(main, *extra)))
    before = snapshot(small_api)
    response = post(small_api, raw)
    assert_refused(small_api, response, 413, "edxml_too_many_files", before)


def test_a_classified_document_is_not_exported_and_stays_invisible_to_others(
    api: TestClient,
) -> None:
    credentials = api.credentials
    response = send(
        api,
        auth(credentials, G22, "leader"),
        envelope([H41], classification="confidential"),
        pdf("Kế hoạch mật"),
    )
    assert response.status_code == 201, response.text
    deliver(api)
    doc = response.json()
    receipt = api.get(
        f"/api/v1/documents/{doc['id']}/receipts", headers=auth(credentials, G22, "leader")
    ).json()["items"][0]
    for url in (
        f"/api/v1/documents/{doc['id']}/edxml",
        f"/api/v1/documents/{doc['id']}/receipts/{receipt['id']}/edxml",
    ):
        for who in (G22, H41):
            before = snapshot(api)
            refused = api.get(url, headers=auth(credentials, who, "leader"))
            assert_refused(api, refused, 422, "edxml_classified", before)
        stranger = api.get(url, headers=auth(credentials, H26, "leader"))
        assert stranger.status_code == 404, stranger.text
