"""The signing service (docex.signing.pades) and ``docex pdf sign``: a leader signs, the agency
seals, and pyHanko's own validator, trusting only the demo root, finds both signatures intact,
valid, trusted and time-stamped, with revocation data embedded for B-LT."""

from __future__ import annotations

import io
import json
import re
import unicodedata
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

import pytest
import typer
from asn1crypto import cms  # type: ignore[import-untyped]
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import serialization
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.dss import DocumentSecurityStore
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
from pyhanko.sign.validation.status import PdfSignatureStatus
from pyhanko_certvalidator import ValidationContext
from typer.testing import CliRunner

from docex.cli.pki import register
from docex.kit.samplepdf import sample_pdf
from docex.signing.font import text_width
from docex.signing.keystore import FileKeyStore
from docex.signing.pades import (
    PreparedSignature,
    Preparer,
    RevocationContexts,
    SignatureRequest,
    SigningError,
    SigningRole,
    prepare_signature,
    revocation_context,
    sign_pdf,
    vietnam_timestamp,
)
from docex.signing.pki import Pki, build_pki
from docex.signing.sandbox import ValidatorPool
from docex.signing.timestamps import InProcessTimeStamper, authority_from_pki
from tests.fixtures import FIXTURES as FIXTURE_ROOT
from tests.security.hostile_pdfs import classic_pdf, objstm_whitespace, wide_page_tree

FIXTURES = FIXTURE_ROOT / "pdf"
PASSPHRASE = "a passphrase for the test PKI"
AGENCY = ("000.00.00.G22", "Văn phòng Chính phủ")
LEADER = ("lanhdao.vpcp", "Nguyễn Văn An", AGENCY[0])
OTHER_LEADER = ("phochanhvp.vpcp", "Trần Thị Bình", AGENCY[0])


class Node:
    """What a node holds for signing: its PKI, key store and time-stamper."""

    def __init__(self, directory: Path) -> None:
        build_pki(
            directory,
            [AGENCY],
            [LEADER, OTHER_LEADER],
            passphrase=PASSPHRASE,
            now=datetime.now(UTC),
        )
        self.pki = Pki.open(directory, PASSPHRASE)
        self.store = FileKeyStore(directory, PASSPHRASE)
        self.timestamper = InProcessTimeStamper(authority_from_pki(self.pki))

    def sign(
        self,
        pdf: bytes,
        role: SigningRole,
        *,
        key_id: str | None = None,
        lt: bool = True,
        signer_name: str = "Nguyễn Văn An",
        context: ValidationContext | None = None,
        preparer: Preparer = prepare_signature,
    ) -> bytes:
        if context is None and lt:
            context = revocation_context(self.pki)
        return sign_pdf(
            io.BytesIO(pdf),
            key_store=self.store,
            key_id=key_id or ("seal:000.00.00.G22" if role == "seal" else "person:lanhdao.vpcp"),
            role=role,
            timestamper=self.timestamper,
            validation_context=context,
            signer_name=signer_name,
            agency_name=AGENCY[1],
            now=datetime.now(UTC),
            preparer=preparer,
        )

    def root(self) -> asn1_x509.Certificate:
        der = self.pki.root_certificate.public_bytes(serialization.Encoding.DER)
        return asn1_x509.Certificate.load(der)


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Node:
    return Node(tmp_path_factory.mktemp("pki") / "pki")


@pytest.fixture(scope="module")
def signed_and_sealed(node: Node) -> bytes:
    signed = node.sign(sample_pdf("Công văn mẫu", size=100_000), "signer")
    return node.sign(signed, "seal")


def _validate(data: bytes, root: asn1_x509.Certificate) -> list[PdfSignatureStatus]:
    """pyHanko's validation, offline: trusts only ``root``, requires revocation data (hard
    fail) and may use only what the document embeds (its DSS)."""
    reader = PdfFileReader(io.BytesIO(data))
    dss = DocumentSecurityStore.read_dss(reader)
    results = []
    for signature in reader.embedded_signatures:
        context = dss.as_validation_context(
            {"trust_roots": [root], "allow_fetching": False, "revocation_mode": "hard-fail"}
        )
        results.append(validate_pdf_signature(signature, context))
    return results


def _signatures(data: bytes) -> list[EmbeddedPdfSignature]:
    return list(PdfFileReader(io.BytesIO(data)).embedded_signatures)


# -- the Decree 30 flow ------------------------------------------------------------------------


def test_leader_signs_then_agency_seals_and_both_validate_against_the_root(
    node: Node, signed_and_sealed: bytes
) -> None:
    statuses = _validate(signed_and_sealed, node.root())
    assert [s.signing_cert.subject.native["common_name"] for s in statuses] == [
        "Nguyễn Văn An",
        "Văn phòng Chính phủ",
    ]
    for status in statuses:
        assert status.intact
        assert status.valid
        assert status.trusted
        assert status.bottom_line
        assert status.md_algorithm == "sha256"
        assert status.timestamp_validity is not None
        assert status.timestamp_validity.intact
        assert status.timestamp_validity.valid
        assert status.timestamp_validity.trusted
        assert status.signer_reported_dt is not None
        assert (
            abs((status.timestamp_validity.timestamp - status.signer_reported_dt).total_seconds())
            < 60
        )
    signer, seal = statuses
    # the leader's signature saw only the form being filled in (the seal) afterwards
    assert signer.modification_level is ModificationLevel.FORM_FILLING
    # the seal's revocation data went into the seal's own revision: nothing follows it
    assert seal.modification_level is ModificationLevel.NONE


def test_b_lt_embeds_ocsp_responses_and_crls_for_both_signers(
    node: Node, signed_and_sealed: bytes
) -> None:
    reader = PdfFileReader(io.BytesIO(signed_and_sealed))
    dss = DocumentSecurityStore.read_dss(reader)
    ocsps = [o.get_object() for o in dss.ocsps]
    crls = [c.get_object() for c in dss.crls]
    assert len(ocsps) >= 3  # signer, seal, TSA
    assert len(crls) >= 1  # the root's CRL for the issuing CA
    # the same hard-fail validation without the embedded data cannot establish trust
    for signature in reader.embedded_signatures:
        bare = ValidationContext(
            trust_roots=[node.root()],
            allow_fetching=False,
            revocation_mode="hard-fail",
            crls=[],
            ocsps=[],
        )
        assert not validate_pdf_signature(signature, bare).bottom_line


def test_revocation_contexts_are_reused_per_thread_until_they_age(node: Node) -> None:
    import threading
    from datetime import timedelta

    contexts = RevocationContexts(node.pki)
    first = contexts.current()
    assert contexts.current() is first
    other: list[ValidationContext] = []
    thread = threading.Thread(target=lambda: other.append(contexts.current()))
    thread.start()
    thread.join()
    assert other[0] is not first
    assert RevocationContexts(node.pki, max_age=timedelta(0)).current() is not first
    sealed = node.sign(sample_pdf("reused context"), "seal", context=first)
    sealed_again = node.sign(sample_pdf("reused context"), "seal", context=first)
    for data in (sealed, sealed_again):
        assert all(s.bottom_line for s in _validate(data, node.root()))


def test_b_t_signature_has_a_timestamp_and_no_revocation_data(node: Node) -> None:
    sealed = node.sign(sample_pdf("appendix"), "seal", lt=False)
    assert b"/DSS" not in sealed
    context = ValidationContext(trust_roots=[node.root()], allow_fetching=False)
    (signature,) = _signatures(sealed)
    status = validate_pdf_signature(signature, context)
    assert status.intact
    assert status.valid
    assert status.trusted
    assert status.timestamp_validity is not None
    assert status.timestamp_validity.trusted


def test_seal_comes_after_the_signer_and_covers_it(signed_and_sealed: bytes) -> None:
    signer, seal = _signatures(signed_and_sealed)
    assert signer.field_name == "docex-signer-1"
    assert seal.field_name == "docex-seal-1"
    assert signer.signed_revision < seal.signed_revision
    signer_end = signer.byte_range[2] + signer.byte_range[3]
    seal_end = seal.byte_range[2] + seal.byte_range[3]
    assert signer_end < seal_end
    assert signed_and_sealed.startswith(signed_and_sealed[:signer_end])


def test_each_signature_is_one_incremental_update_of_its_input(node: Node) -> None:
    original = sample_pdf("incremental", size=20_000)
    signed = node.sign(original, "signer")
    sealed = node.sign(signed, "seal", lt=False)
    assert signed.startswith(original)
    assert sealed.startswith(signed)
    # original, signature with its DSS in the same revision (B-LT), seal (B-T: no DSS)
    reader = PdfFileReader(io.BytesIO(sealed))
    assert reader.xrefs.total_revisions == 3
    assert "/DSS" in PdfFileReader(io.BytesIO(signed)).root


def _widget(signature: EmbeddedPdfSignature) -> generic.DictionaryObject:
    field = signature.sig_field
    kids = field.get("/Kids")
    widget = kids[0].get_object() if kids else field
    assert isinstance(widget, generic.DictionaryObject)
    return widget


def _rect(widget: generic.DictionaryObject) -> tuple[float, float, float, float]:
    x1, y1, x2, y2 = (float(v) for v in widget["/Rect"])
    return x1, y1, x2, y2


def test_appearances_are_visible_on_the_last_page_and_do_not_overlap(node: Node) -> None:
    two_pages = (FIXTURES / "minimal-two-pages.pdf").read_bytes()
    sealed = node.sign(node.sign(two_pages, "signer"), "seal")
    reader = PdfFileReader(io.BytesIO(sealed))
    last_page, _ = reader.find_page_for_modification(-1)
    rects = []
    for signature in reader.embedded_signatures:
        widget = _widget(signature)
        assert widget["/Subtype"] == "/Widget"
        assert widget.raw_get("/P").idnum == last_page.idnum
        appearance = widget["/AP"]["/N"]
        assert isinstance(appearance, generic.StreamObject)
        x1, y1, x2, y2 = _rect(widget)
        assert x2 - x1 > 100
        assert y2 - y1 > 40
        rects.append((x1, y1, x2, y2))
    signer_rect, seal_rect = rects
    assert seal_rect[2] <= signer_rect[0]  # the seal sits to the left of the signature
    annots = [a.get_object() for a in last_page.get_object()["/Annots"]]
    assert len(annots) == 2


def _appearance_streams(signature: EmbeddedPdfSignature) -> list[generic.StreamObject]:
    """The widget's normal appearance and the form XObjects it draws."""
    stream = _widget(signature)["/AP"]["/N"]
    xobjects = stream.get("/Resources", {}).get("/XObject", {})
    return [stream, *(x.get_object() for x in xobjects.values())]


def _appearance_font(signature: EmbeddedPdfSignature) -> generic.DictionaryObject:
    [font] = [
        f.get_object()
        for stream in _appearance_streams(signature)
        for f in stream.get("/Resources", {}).get("/Font", {}).values()
    ]
    assert isinstance(font, generic.DictionaryObject)
    return font


def _shown_text(signature: EmbeddedPdfSignature) -> str:
    """What the appearance shows, read back the way a viewer copies it: the glyph ids of its
    Tj operators through the font's ToUnicode map."""
    cmap = _appearance_font(signature)["/ToUnicode"].get_object().data.decode()
    to_char = {
        int(gid, 16): bytes.fromhex(uni).decode("utf-16-be")
        for gid, uni in re.findall(r"<([0-9A-F]{4})> <([0-9A-F]+)>", cmap)
    }
    shown = []
    for stream in _appearance_streams(signature):
        for hexed in re.findall(rb"<([0-9a-fA-F]*)> Tj", stream.data):
            ids = bytes.fromhex(hexed.decode())
            shown.append(
                "".join(to_char[int.from_bytes(ids[i : i + 2])] for i in range(0, len(ids), 2))
            )
    return "\n".join(shown)


def test_appearance_shows_names_and_vietnam_time_with_diacritics(
    signed_and_sealed: bytes,
) -> None:
    signer, seal = _signatures(signed_and_sealed)
    signer_text = _shown_text(signer)
    seal_text = _shown_text(seal)
    assert "Ký bởi: Nguyễn Văn An" in signer_text
    assert "Cơ quan: Văn phòng Chính phủ" in signer_text
    assert "Thời gian ký:" in signer_text
    assert "Văn phòng Chính phủ" in seal_text
    assert "Đã ký số" in seal_text
    assert "+07:00" in seal_text
    assert "+07:00" in signer_text
    assert signer.sig_object["/Name"] == "Nguyễn Văn An"
    assert seal.sig_object["/Name"] == "Văn phòng Chính phủ"


def test_the_appearance_font_is_embedded_with_every_vietnamese_letter(
    signed_and_sealed: bytes,
) -> None:
    from fontTools.ttLib import TTFont

    _, seal = _signatures(signed_and_sealed)
    font = _appearance_font(seal)
    assert font["/Subtype"] == "/Type0"
    assert font["/Encoding"] == "/Identity-H"
    descendant = font["/DescendantFonts"][0].get_object()
    assert descendant["/Subtype"] == "/CIDFontType2"
    program = descendant["/FontDescriptor"]["/FontFile2"].get_object().data
    assert re.fullmatch(r"/[A-Z]{6}\+DejaVuSans", str(font["/BaseFont"]))
    # The embedded program draws every letter of the alphabet, in both cases, with each tone.
    cmap = TTFont(io.BytesIO(program)).getBestCmap()
    alphabet = "aăâbcdđeêghiklmnoôơpqrstuưvxy"
    tones = ["", "\u0300", "\u0301", "\u0303", "\u0309", "\u0323"]
    for letter in alphabet + alphabet.upper():
        for tone in tones if letter.lower() in "aăâeêioôơuưy" else [""]:
            char = unicodedata.normalize("NFC", letter + tone)
            assert ord(char) in cmap, char


def test_vietnam_time_and_text_width() -> None:
    moment = datetime(2025, 6, 19, 17, 5, 9, tzinfo=UTC)
    assert vietnam_timestamp(moment) == "20/06/2025 00:05:09 +07:00"
    with pytest.raises(ValueError, match="timezone"):
        vietnam_timestamp(datetime(2025, 6, 19, 17, 5, 9))  # noqa: DTZ001
    # Composed and decomposed forms are the same text; an unknown character takes a "?".
    assert text_width("Đã ký số") == text_width(unicodedata.normalize("NFD", "Đã ký số"))
    assert text_width("中") == text_width("?")
    assert 0 < text_width("i") < text_width("M")


def test_a_second_signer_gets_its_own_box_above_the_first(node: Node) -> None:
    pdf = sample_pdf("two signers")
    once = node.sign(pdf, "signer")
    twice = node.sign(once, "signer", key_id="person:phochanhvp.vpcp", signer_name="Trần Thị Bình")
    first, second = (_rect(_widget(s)) for s in _signatures(twice))
    assert [s.field_name for s in _signatures(twice)] == ["docex-signer-1", "docex-signer-2"]
    assert second[1] >= first[3]  # stacked, not overlapping
    for status in _validate(twice, node.root()):
        assert status.bottom_line


def _assert_der(data: bytes) -> None:
    """Walk ``data`` as DER (X.690 §10): definite, minimal lengths; SET OF in sorted order.
    (asn1crypto's own re-encoding of a whole CMS takes minutes, hence this small walker.)"""

    def elements(buf: bytes) -> list[tuple[int, bytes, bytes]]:
        out, i = [], 0
        while i < len(buf):
            tag = buf[i]
            assert tag & 0x1F != 0x1F, "multi-byte tags do not occur in CMS"
            first = buf[i + 1]
            assert first != 0x80, "indefinite length is BER, not DER"
            if first < 0x80:
                length, start = first, i + 2
            else:
                count = first & 0x7F
                raw = buf[i + 2 : i + 2 + count]
                length, start = int.from_bytes(raw, "big"), i + 2 + count
                assert raw[0] != 0, "length not in its shortest form"
                assert length >= 0x80, "length not in its shortest form"
            out.append((tag, buf[i : start + length], buf[start : start + length]))
            i = start + length
        assert i == len(buf)
        return out

    def walk(buf: bytes, is_set: bool) -> None:
        children = elements(buf)
        if is_set:
            encodings = [whole for _, whole, _ in children]
            assert encodings == sorted(encodings), "SET OF not in DER order"
        for tag, _, content in children:
            if tag & 0x20:  # constructed
                # SET, and the [0]/[1] IMPLICIT SETs of CMS (certificates, signed and
                # unsigned attributes); other context tags here hold a single element
                walk(content, is_set=tag in (0x31, 0xA0, 0xA1))

    (top,) = elements(data)
    walk(top[2], is_set=False)


def test_the_cms_is_canonical_der(signed_and_sealed: bytes) -> None:
    for signature in _signatures(signed_and_sealed):
        der = cms.ContentInfo.load(bytes(signature.sig_object["/Contents"])).dump()
        _assert_der(der)
        info = cms.ContentInfo.load(der)
        signed_data = info["content"]
        signer_info = signed_data["signer_infos"][0]
        attrs = {a["type"].native for a in signer_info["signed_attrs"]}
        # PAdES baseline: no signing-time attribute, ESS signing-certificate-v2 present
        assert attrs == {"content_type", "message_digest", "signing_certificate_v2"}
        unsigned = {a["type"].native for a in signer_info["unsigned_attrs"]}
        assert unsigned == {"signature_time_stamp_token"}
        assert len(signed_data["certificates"]) == 3  # signer, issuing CA, root
        assert signature.sig_object["/SubFilter"] == "/ETSI.CAdES.detached"


# -- refusals ----------------------------------------------------------------------------------


def _sign_expecting(node: Node, data: bytes, code: str, **kwargs: Any) -> SigningError:
    with pytest.raises(SigningError) as caught:
        node.sign(data, "seal", **kwargs)
    assert caught.value.code == code, caught.value.detail
    return caught.value


@pytest.mark.parametrize(
    "data",
    [b"", b"hello, world", b"PK\x03\x04 a zip file", b"\x89PNG\r\n\x1a\n" + b"\x00" * 2000],
)
def test_signing_something_that_is_not_a_pdf_is_refused(node: Node, data: bytes) -> None:
    _sign_expecting(node, data, "not_a_pdf")


@pytest.mark.parametrize(
    "name", ["minimal-aes256.pdf", "minimal-rc4.pdf", "minimal-pubkey-aes256.pdf"]
)
def test_signing_an_encrypted_pdf_is_refused(node: Node, name: str) -> None:
    _sign_expecting(node, (FIXTURES / name).read_bytes(), "encrypted_pdf")


def test_signing_a_pdf_we_encrypted_is_refused(node: Node) -> None:
    import pypdf

    writer = pypdf.PdfWriter(clone_from=pypdf.PdfReader(io.BytesIO(sample_pdf("secret"))))
    writer.encrypt(user_password="", owner_password="owner", algorithm="AES-256")
    out = io.BytesIO()
    writer.write(out)
    _sign_expecting(node, out.getvalue(), "encrypted_pdf")


@pytest.mark.parametrize(
    "name",
    [
        "minimal-startxref-hopeless.pdf",
        "minimal-broken-xref-size.pdf",
        "circular-page-tree.pdf",
        "broken-objstream1.pdf",
    ],
)
def test_signing_a_broken_pdf_is_refused(node: Node, name: str) -> None:
    _sign_expecting(node, (FIXTURES / name).read_bytes(), "invalid_pdf")


@pytest.mark.parametrize(
    ("data", "cause"),
    [
        (
            classic_pdf(
                {1: b"<< /Type /Catalog /Pages 2 0 R >>", 2: b"<< /Type /Pages /Kids [] >>"}
            ),
            "no pages",
        ),
        (wide_page_tree(kids=2), "not a tree"),
    ],
    ids=["no-pages", "page-listed-twice"],
)
def test_a_pdf_intake_would_refuse_for_its_page_tree_is_not_signed(
    node: Node, data: bytes, cause: str
) -> None:
    assert cause in _sign_expecting(node, data, "invalid_pdf").detail


def test_a_truncated_pdf_is_refused(node: Node) -> None:
    pdf = sample_pdf("cut short", size=5_000)
    _sign_expecting(node, pdf[: len(pdf) // 2], "invalid_pdf")


def test_an_unknown_key_is_refused(node: Node) -> None:
    error = _sign_expecting(node, sample_pdf("x"), "unknown_key", key_id="seal:000.00.00.X99")
    assert "seal:000.00.00.X99" in error.detail


def test_a_revoked_signer_cannot_sign_b_lt(tmp_path: Path) -> None:
    node = Node(tmp_path / "pki")
    cert = node.store.certificate("person:lanhdao.vpcp")
    node.pki.revoke(cert.serial_number, "key_compromise", datetime.now(UTC))
    with pytest.raises(SigningError) as caught:
        node.sign(sample_pdf("x"), "signer")
    assert caught.value.code == "certificate_invalid"


def test_naive_now_is_a_programming_error(node: Node) -> None:
    with pytest.raises(ValueError, match="timezone"):
        sign_pdf(
            io.BytesIO(sample_pdf("x")),
            key_store=node.store,
            key_id="seal:000.00.00.G22",
            role="seal",
            timestamper=node.timestamper,
            validation_context=None,
            signer_name="x",
            agency_name="x",
            now=datetime(2025, 1, 1),  # noqa: DTZ001
        )


def test_output_stream_receives_the_signed_pdf(node: Node) -> None:
    out = io.BytesIO()
    result = sign_pdf(
        io.BytesIO(sample_pdf("to a stream")),
        key_store=node.store,
        key_id="seal:000.00.00.G22",
        role="seal",
        timestamper=node.timestamper,
        validation_context=None,
        signer_name="x",
        agency_name=AGENCY[1],
        now=datetime.now(UTC),
        output=out,
    )
    assert out.getvalue() == result
    context = ValidationContext(trust_roots=[node.root()], allow_fetching=False)
    (signature,) = _signatures(result)
    assert validate_pdf_signature(signature, context).bottom_line


# -- docex pdf sign ----------------------------------------------------------------------------


@pytest.fixture
def cli_node(tmp_path: Path) -> tuple[dict[str, str], Node]:
    data_dir = tmp_path / "data"
    env = {"DOCEX_DATA_DIR": str(data_dir), "DOCEX_SIGNING__KEY_PASSPHRASE": PASSPHRASE}
    return env, Node(data_dir / "pki")


def _cli() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """docex (test)."""

    register(app)
    return app


def test_pdf_sign_signs_then_seals_from_the_command_line(
    cli_node: tuple[dict[str, str], Node], tmp_path: Path
) -> None:
    env, node = cli_node
    (tmp_path / "in.pdf").write_bytes(sample_pdf("from the CLI"))
    runner = CliRunner()
    signed = runner.invoke(
        _cli(),
        [
            "pdf",
            "sign",
            str(tmp_path / "in.pdf"),
            "-o",
            str(tmp_path / "signed.pdf"),
            "--key",
            "person:lanhdao.vpcp",
            "--json",
        ],
        env=env,
    )
    assert signed.exit_code == 0, signed.output
    assert json.loads(signed.stdout)["as"] == "signer"
    sealed = runner.invoke(
        _cli(),
        [
            "pdf",
            "sign",
            str(tmp_path / "signed.pdf"),
            "-o",
            str(tmp_path / "sealed.pdf"),
            "--key",
            "seal:000.00.00.G22",
        ],
        env=env,
    )
    assert sealed.exit_code == 0, sealed.output
    assert "sealed" in sealed.stdout
    statuses = _validate((tmp_path / "sealed.pdf").read_bytes(), node.root())
    assert [s.signing_cert.subject.native["common_name"] for s in statuses] == [
        "Nguyễn Văn An",
        "Văn phòng Chính phủ",
    ]
    assert all(s.bottom_line for s in statuses)


@pytest.mark.parametrize(
    ("content", "key", "message"),
    [
        (b"not a pdf", "seal:000.00.00.G22", "not_a_pdf"),
        (None, "seal:000.00.00.X99", "unknown_key"),
        (None, "node", "seal:<agency code> or person:<username>"),
    ],
)
def test_pdf_sign_reports_refusals(
    cli_node: tuple[dict[str, str], Node],
    tmp_path: Path,
    content: bytes | None,
    key: str,
    message: str,
) -> None:
    env, _ = cli_node
    source = tmp_path / "in.pdf"
    source.write_bytes(content if content is not None else sample_pdf("x"))
    result = CliRunner().invoke(
        _cli(), ["pdf", "sign", str(source), "-o", str(tmp_path / "out.pdf"), "--key", key], env=env
    )
    assert result.exit_code != 0
    assert message in result.output
    assert not (tmp_path / "out.pdf").exists()


def test_pki_rotate_gives_a_new_key_and_keeps_the_old_certificate(
    cli_node: tuple[dict[str, str], Node], tmp_path: Path
) -> None:
    env, node = cli_node
    before = node.sign(node.sign(sample_pdf("before the rotation"), "signer"), "seal")
    old = node.store.certificate("seal:000.00.00.G22")
    runner = CliRunner()
    rotated = runner.invoke(_cli(), ["pki", "rotate", "seal:000.00.00.G22", "--json"], env=env)
    assert rotated.exit_code == 0, rotated.output
    new = node.store.certificate("seal:000.00.00.G22")
    assert json.loads(rotated.stdout)["serial"] == format(new.serial_number, "x")
    assert new.public_key() != old.public_key()
    assert new.subject == old.subject
    assert node.store.certificates("seal:000.00.00.G22") == (old, new)
    # The next seal uses the new key; the document sealed before still validates.
    after = node.sign(node.sign(sample_pdf("after the rotation"), "signer"), "seal")
    assert _signatures(after)[-1].signer_cert.dump() == new.public_bytes(serialization.Encoding.DER)
    for document in (before, after):
        assert all(s.bottom_line for s in _validate(document, node.root()))

    unknown = runner.invoke(_cli(), ["pki", "rotate", "seal:000.00.00.X99"], env=env)
    assert unknown.exit_code == 1
    assert "no signing key seal:000.00.00.X99" in unknown.output


def test_pki_request_and_install_refuse_a_node_that_keeps_files(
    cli_node: tuple[dict[str, str], Node], tmp_path: Path
) -> None:
    """Requests to an outside CA are for keys on a token; a node with file keys says so, and
    a file that is not a certificate is refused before anything is looked up. Nothing is
    written."""
    env, _ = cli_node
    runner = CliRunner()
    request = runner.invoke(
        _cli(),
        ["pki", "request", "seal:000.00.00.G22", "-o", str(tmp_path / "req.pem")],
        env=env,
    )
    assert request.exit_code == 1
    assert "is for keys on a PKCS#11 token" in request.output
    assert not (tmp_path / "req.pem").exists()

    (tmp_path / "not-a-cert.pem").write_text("-----BEGIN CERTIFICATE-----\nxx\n")
    bad = runner.invoke(
        _cli(), ["pki", "install", "seal:000.00.00.G22", str(tmp_path / "not-a-cert.pem")], env=env
    )
    assert bad.exit_code == 1
    assert "cannot read a certificate" in bad.output
    issued = tmp_path / "issued.pem"
    issued.write_bytes(
        Pki.open(tmp_path / "data" / "pki", PASSPHRASE).root_certificate.public_bytes(
            serialization.Encoding.PEM
        )
    )
    on_files = runner.invoke(_cli(), ["pki", "install", "seal:000.00.00.G22", str(issued)], env=env)
    assert on_files.exit_code == 1
    assert "is for keys on a PKCS#11 token" in on_files.output


# -- in a bounded worker -------------------------------------------------------------------------


def _in(pool: ValidatorPool, spool: Path, timeout_s: float | None = None) -> Preparer:
    def prepare(source: BinaryIO, output: BinaryIO, request: SignatureRequest) -> PreparedSignature:
        return pool.prepare_signature(source, output, request, spool_dir=spool, timeout_s=timeout_s)

    return prepare


def test_prepared_in_a_worker_the_signatures_are_the_same_and_no_copy_is_left(
    node: Node, tmp_path: Path
) -> None:
    with ValidatorPool(1) as pool:
        signed = node.sign(sample_pdf("Công văn"), "signer", preparer=_in(pool, tmp_path))
        sealed = node.sign(signed, "seal", preparer=_in(pool, tmp_path))

    statuses = _validate(sealed, node.root())
    assert [s.bottom_line for s in statuses] == [True, True]
    assert list(tmp_path.iterdir()) == []


def test_a_bomb_sent_for_signing_stops_in_the_worker_and_the_next_document_is_signed(
    node: Node, tmp_path: Path
) -> None:
    bomb = objstm_whitespace(streams=2, padding=16 << 20)  # 16 KiB that inflate to 32 MiB
    with ValidatorPool(1) as pool:
        with pytest.raises(SigningError) as caught:
            node.sign(bomb, "seal", preparer=_in(pool, tmp_path))
        assert caught.value.code == "resource_limit"
        assert "Decoded stream data exceeds the limit" in caught.value.detail
        sealed = node.sign(sample_pdf("after the bomb"), "seal", preparer=_in(pool, tmp_path))
    assert [s.bottom_line for s in _validate(sealed, node.root())] == [True]
    assert list(tmp_path.iterdir()) == []


def test_a_worker_that_does_not_answer_in_time_is_resource_limit(
    node: Node, tmp_path: Path
) -> None:
    with ValidatorPool(1) as pool:
        with pytest.raises(SigningError) as caught:
            node.sign(sample_pdf("x"), "seal", preparer=_in(pool, tmp_path, timeout_s=0.001))
        assert caught.value.code == "resource_limit"
        assert "no answer within" in caught.value.detail
        assert node.sign(sample_pdf("y"), "seal", preparer=_in(pool, tmp_path))
    assert list(tmp_path.iterdir()) == []
