"""The speed-ups of docex.signing.validation.speedups answer exactly what pyHanko and asn1crypto
answer without them: function by function, and for whole documents."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest
from asn1crypto import x509 as asn1_x509  # type: ignore[import-untyped]
from hypothesis import given, settings
from hypothesis import strategies as st
from pyhanko.pdf_utils import generic, misc

from docex.signing.validation import STRICT_DECREE_30, TrustConfig, speedups, validate_pdf
from tests.signing.conftest_validation import PadesDocs
from tests.signing.pki import SENDER


@contextmanager
def speedups_off() -> Iterator[None]:
    """pyHanko's and asn1crypto's own code for the block; the speed-ups again after it."""
    speedups.uninstall()
    try:
        yield
    finally:
        speedups.install()


def test_install_replaces_and_uninstall_restores() -> None:
    with speedups_off():
        assert not speedups.installed()
        assert generic.read_hex_string_from_stream is speedups._read_hex_string_slowly
        assert asn1_x509.Name.__eq__ is speedups._names_equal_slowly
    assert speedups.installed()
    assert generic.read_hex_string_from_stream is speedups._read_hex_string
    assert asn1_x509.Name.__eq__ is speedups._names_equal
    speedups.install()  # idempotent
    assert asn1_x509.RelativeDistinguishedName._get_values is speedups._rdn_values


DOCUMENTS = [
    "ok",
    "unsigned",
    "signer_only",
    "seal_first",
    "revoked",
    "expired",
    "no_revinfo",
    "flipped_contents",
    "flipped_signed_range",
    "incremental_saving",
    "shadow",
    "other_agency_seal",
    "document_timestamp",
    "uncovered_tail",
]


@pytest.mark.parametrize("name", DOCUMENTS)
def test_documents_get_the_same_report_with_and_without_speedups(
    pades_docs: PadesDocs, pades_trust: TrustConfig, name: str
) -> None:
    now = datetime.now(UTC)
    path = pades_docs.path(name)

    def report() -> dict[str, object]:
        found = validate_pdf(
            path, sender_agency=SENDER, trust=pades_trust, policy=STRICT_DECREE_30, now=now
        )
        return found.to_dict()

    with speedups_off():
        expected = report()
    speedups.install()
    assert report() == expected


@pytest.mark.parametrize(
    "data",
    [
        b"<48656c6c6f> rest",
        b"<48 65\n6C\t6c\r6f\x00> rest",
        b"<486> rest",
        b"<> rest",
        b"<48%comment\n65> rest",
        b"<4G> rest",
        b"<4865",
    ],
)
def test_fast_hex_string_reader_matches_pyhanko(data: bytes) -> None:
    def read(reader: object) -> tuple[object, int]:
        stream = io.BytesIO(data)
        try:
            value: object = reader(stream)  # type: ignore[operator]
        except misc.PdfReadError as exc:
            value = type(exc)
        return value, stream.tell()

    assert read(speedups._read_hex_string) == read(speedups._read_hex_string_slowly)


_NAME_TEXTS = [
    "Văn phòng Chính phủ",
    "VĂN PHÒNG  CHÍNH PHỦ",
    " van phong ",
    "VN:000.00.00.G22",
    "A",
]


def _encoded_name(rdns: list[list[tuple[str, str, str]]]) -> asn1_x509.Name:
    """A freshly parsed Name from (attribute, text, string type) RDNs, so no cache is warm."""
    oids = {"cn": "common_name", "o": "organization_name", "c": "country_name"}
    sequence = asn1_x509.RDNSequence(
        [
            asn1_x509.RelativeDistinguishedName(
                [
                    asn1_x509.NameTypeAndValue(
                        {
                            "type": oids[attr],
                            "value": asn1_x509.DirectoryString(
                                name=kind,
                                value=text.encode("ascii", "ignore").decode()
                                if kind == "printable_string"
                                else text,
                            ),
                        }
                    )
                    for attr, text, kind in rdn
                ]
            )
            for rdn in rdns
        ]
    )
    return asn1_x509.Name.load(asn1_x509.Name(name="", value=sequence).dump())


_RDN = st.lists(
    st.tuples(
        st.sampled_from(["cn", "o"]),
        st.sampled_from(_NAME_TEXTS),
        st.sampled_from(["utf8_string", "printable_string"]),
    ),
    min_size=1,
    max_size=2,
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_RDN, min_size=1, max_size=3), st.lists(_RDN, min_size=1, max_size=3))
def test_remembered_name_comparison_matches_asn1crypto(
    left: list[list[tuple[str, str, str]]], right: list[list[tuple[str, str, str]]]
) -> None:
    """Names equal by RFC 5280 §7.1 but encoded differently (case, spaces, string types,
    RDN order), equal names, different names: the remembered comparison and hashable answer
    exactly as asn1crypto does without them."""
    pairs = ((left, right), (left, left), (left, list(reversed(left))))
    with speedups_off():
        expected = [
            (_encoded_name(a) == _encoded_name(b), _encoded_name(a).hashable) for a, b in pairs
        ]
    speedups.install()
    found = [(_encoded_name(a) == _encoded_name(b), _encoded_name(a).hashable) for a, b in pairs]
    assert found == expected
    assert speedups._names_equal(_encoded_name(left), "not a name") is False
