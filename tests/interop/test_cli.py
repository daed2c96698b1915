"""``docex edxml convert`` and ``docex edxml export`` from the command line, offline."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from docex.cli.main import app
from docex.interop import DocumentPackage, StatusPackage, parse_package
from docex.kit.samplepdf import sample_pdf
from tests.interop.samples import SAMPLES, attachment_of, small_document

runner = CliRunner()


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_convert_prints_docex_json_for_every_sample(path: Path) -> None:
    result = runner.invoke(app, ["edxml", "convert", str(path), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    if path.name.startswith("edoc_"):
        assert data["kind"] == "document"
        assert data["envelope"]["subject"].startswith("V/v kết nối")
        assert data["files"][0]["path"] is None  # nothing written without -o
    else:
        assert data["kind"] == "status"
        assert data["code"] == path.stem.rsplit("_", 1)[1]


def test_convert_writes_envelope_package_and_files_then_export_round_trips(
    tmp_path: Path,
) -> None:
    source = SAMPLES[0]  # edoc_new.edxml, with its stray bytes and its ZIP-in-a-.doc
    out = tmp_path / "out"
    result = runner.invoke(app, ["edxml", "convert", str(source), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "skipped 4 stray bytes" in result.stdout
    envelope = json.loads((out / "envelope.json").read_text(encoding="utf-8"))
    assert envelope["recipients"] == ["28.22.H17"]
    assert "sender" not in envelope  # the sender is the caller's agency, never the file's word
    package = json.loads((out / "package.json").read_text(encoding="utf-8"))
    assert package["sender_id"] == "002.00.20.H13"
    (file,) = package["files"]
    written = out / file["path"]
    expected = attachment_of(source.read_bytes())
    assert written.read_bytes() == expected
    assert file["sha256"] == hashlib.sha256(expected).hexdigest()
    assert sorted(p.name for p in (out / "files").iterdir()) == ["1896_QD-TTg_m_294779.doc"]

    edxml = tmp_path / "back.edxml"
    result = runner.invoke(app, ["edxml", "export", str(out), "-o", str(edxml)])
    assert result.exit_code == 0, result.output
    original = parse_package(source.read_bytes())
    again = parse_package(edxml.read_bytes())
    assert again == original
    original.discard()
    again.discard()


def test_a_status_converts_and_exports_back(tmp_path: Path) -> None:
    source = next(p for p in SAMPLES if p.name == "status_rejection_02.edxml")
    out = tmp_path / "status"
    assert runner.invoke(app, ["edxml", "convert", str(source), "-o", str(out)]).exit_code == 0
    assert not (out / "envelope.json").exists()
    result = runner.invoke(app, ["edxml", "export", str(out / "package.json")])
    assert result.exit_code == 0, result.output
    again = parse_package(result.stdout_bytes)
    assert isinstance(again, StatusPackage)
    assert again == parse_package(source.read_bytes())


def test_export_from_a_docex_envelope_and_files(tmp_path: Path) -> None:
    pdf = tmp_path / "cong-van.pdf"
    pdf.write_bytes(sample_pdf("export"))
    (tmp_path / "envelope.json").write_text(
        json.dumps({"recipients": ["000.00.00.H41"], "subject": "Gửi Nghệ An", "urgency": "flash"}),
        encoding="utf-8",
    )
    edxml = tmp_path / "out.edxml"
    result = runner.invoke(
        app,
        [
            "edxml",
            "export",
            "--envelope",
            str(tmp_path / "envelope.json"),
            "--sender",
            "000.00.00.G22",
            "--document-id",
            "000.00.00.G22,2025/06/19,1/VPCP",
            "--main",
            str(pdf),
            "--sent-at",
            "2025-06-19T09:30:00+07:00",
            "-o",
            str(edxml),
        ],
    )
    assert result.exit_code == 0, result.output
    raw = edxml.read_bytes()
    assert b"<edXML:Priority>3</edXML:Priority>" in raw
    assert b"<edXML:Timestamp>2025/06/19 09:30:00</edXML:Timestamp>" in raw
    package = parse_package(raw)
    assert isinstance(package, DocumentPackage)
    assert package.sender_id == "000.00.00.G22"
    assert package.main is not None
    assert package.main.path.read_bytes() == pdf.read_bytes()
    package.discard()


def test_an_envelope_naming_its_own_sender_is_refused(tmp_path: Path) -> None:
    (tmp_path / "envelope.json").write_text(
        json.dumps({"recipients": ["000.00.00.H41"], "subject": "x", "sender": "000.00.00.G22"}),
        encoding="utf-8",
    )
    result = runner.invoke(
        app,
        [
            "edxml",
            "export",
            "--envelope",
            str(tmp_path / "envelope.json"),
            "--sender",
            "000.00.00.G22",
            "--document-id",
            "x",
            "-o",
            str(tmp_path / "o.edxml"),
        ],
    )
    assert result.exit_code == 1
    assert "sender_not_settable" in result.output
    assert not (tmp_path / "o.edxml").exists()


def test_convert_refuses_a_hostile_file_with_its_code(tmp_path: Path) -> None:
    hostile = tmp_path / "bomb.edxml"
    hostile.write_bytes(
        b'<?xml version="1.0"?><!DOCTYPE edXML [<!ENTITY a "aaaa">]><edXML>&a;</edXML>'
    )
    out = tmp_path / "out"
    result = runner.invoke(app, ["edxml", "convert", str(hostile), "-o", str(out)])
    assert result.exit_code == 1
    assert "edxml_doctype_forbidden" in result.output
    assert list((out / "files").iterdir()) == []


def test_export_refuses_a_package_whose_file_changed(tmp_path: Path) -> None:
    source = tmp_path / "doc.edxml"
    source.write_text(small_document(), encoding="utf-8")
    out = tmp_path / "out"
    assert runner.invoke(app, ["edxml", "convert", str(source), "-o", str(out)]).exit_code == 0
    (file,) = (out / "files").iterdir()
    file.write_bytes(b"%PDF-1.4 altered")
    result = runner.invoke(app, ["edxml", "export", str(out)])
    assert result.exit_code == 1
    assert "edxml_invalid_package_json" in result.output


def test_convert_handles_every_quirk_of_the_field_samples() -> None:
    """edoc_new.edxml carries them all: stray bytes before the declaration, a short organ id,
    yyyy/MM/dd dates, a placeholder rsa-sha1 XMLDSig block, a .doc typed application/zip."""
    path = next(p for p in SAMPLES if p.name == "edoc_new.edxml")
    assert path.read_bytes().startswith(b"1212<?xml")
    result = runner.invoke(app, ["edxml", "convert", str(path), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    warnings = "\n".join(data["warnings"])
    assert "skipped 4 stray bytes '1212' before the XML declaration" in warnings
    assert data["envelope"]["recipients"] == ["28.22.H17"]
    assert data["envelope"]["promulgation"]["date"] == "2019-01-16"
    assert data["envelope"]["due_date"] == "2018-09-28"
    assert data["signature"]["placeholder"] is True
    assert data["signature"]["trusted"] is False
    assert "rsa-sha1" in warnings
    (attachment,) = data["files"]
    assert attachment["name"].endswith(".doc")
    assert attachment["content_type"] == "application/zip"
    assert "is a ZIP archive, not the .doc file its name says" in warnings
