"""Downloads: checked against the ETag, resumed from their partial file, never half-written."""

from __future__ import annotations

import errno
import hashlib
import io
import os
from pathlib import Path

import httpx
import pytest

from docex_client import DocexClient, IntegrityError, NotFoundError, RetryPolicy, TransportError
from docex_client.retry import NO_RETRY
from tests.client.helpers import BASE, DOC, TOKEN, FileServer, Recorder

CONTENT = b"%PDF-1.7\n" + os.urandom(300_000) + b"\n%%EOF\n"
DIGEST = hashlib.sha256(CONTENT).hexdigest()


def client(server: FileServer | Recorder, *, retry: RetryPolicy | None = None) -> DocexClient:
    return DocexClient(
        BASE, TOKEN, transport=httpx.MockTransport(server), retry=retry, sleep=lambda _s: None
    )


def test_a_download_streams_to_a_path_checks_the_etag_and_reports_progress(
    tmp_path: Path,
) -> None:
    server = FileServer(CONTENT)
    calls: list[tuple[int, int]] = []
    dest = tmp_path / "out.pdf"
    with client(server) as api:
        result = api.download(DOC, "f-1", dest, progress=lambda d, t: calls.append((d, t)))
    assert (result.sha256, result.size, result.resumed_from) == (DIGEST, len(CONTENT), 0)
    assert result.path == dest
    assert dest.read_bytes() == CONTENT
    assert server.requests[0].url.path == f"/api/v1/documents/{DOC}/files/f-1"
    assert "Range" not in server.requests[0].headers
    assert calls[-1] == (len(CONTENT), len(CONTENT))
    assert len(calls) >= 4
    assert os.listdir(tmp_path) == ["out.pdf"]


@pytest.mark.parametrize("etag_form", ['"{}"', "{}", 'W/"{}"'], ids=["quoted", "bare", "weak"])
def test_every_form_of_the_etag_is_understood(tmp_path: Path, etag_form: str) -> None:
    response = httpx.Response(200, content=CONTENT, headers={"ETag": etag_form.format(DIGEST)})
    with client(Recorder([response])) as api:
        assert api.download(DOC, "f", tmp_path / "x").sha256 == DIGEST


def test_a_cut_download_resumes_in_the_same_call_from_where_it_stopped(tmp_path: Path) -> None:
    server = FileServer(CONTENT, cuts=[100_000, 150_000, None])
    dest = tmp_path / "out.pdf"
    with client(server) as api:
        result = api.download(DOC, "f", dest, expected_sha256=DIGEST)
    assert dest.read_bytes() == CONTENT
    ranges = [r.headers.get("Range") for r in server.requests]
    assert ranges == [None, "bytes=100000-", "bytes=250000-"]
    assert {r.headers.get("If-Range") for r in server.requests[1:]} == {f'"{DIGEST}"'}
    assert result.sha256 == DIGEST


def test_a_cut_download_keeps_its_partial_file_and_the_next_call_resumes_it(
    tmp_path: Path,
) -> None:
    dest = tmp_path / "out.pdf"
    with (
        client(FileServer(CONTENT, cuts=[120_000]), retry=NO_RETRY) as api,
        pytest.raises(TransportError),
    ):
        api.download(DOC, "f", dest)
    partial = tmp_path / f".out.pdf.{DIGEST}.part"
    assert os.listdir(tmp_path) == [partial.name]
    assert partial.read_bytes() == CONTENT[:120_000]

    server = FileServer(CONTENT)
    with client(server) as api:
        result = api.download(DOC, "f", dest)
    assert server.requests[0].headers["Range"] == "bytes=120000-"
    assert (result.resumed_from, result.sha256) == (120_000, DIGEST)
    assert dest.read_bytes() == CONTENT
    assert os.listdir(tmp_path) == ["out.pdf"]


def test_a_file_that_changed_on_the_node_is_fetched_whole_not_spliced(tmp_path: Path) -> None:
    dest = tmp_path / "out.pdf"
    old_etag = hashlib.sha256(b"an earlier version").hexdigest()
    (tmp_path / f".out.pdf.{old_etag}.part").write_bytes(b"an earlier")
    server = FileServer(CONTENT)
    with client(server) as api:
        result = api.download(DOC, "f", dest)
    assert server.requests[0].headers["If-Range"] == f'"{old_etag}"'
    assert result.resumed_from == 0
    assert dest.read_bytes() == CONTENT
    assert os.listdir(tmp_path) == ["out.pdf"]


def test_a_partial_file_as_long_as_the_file_starts_over_after_416(tmp_path: Path) -> None:
    (tmp_path / f".out.pdf.{DIGEST}.part").write_bytes(CONTENT + b"junk")
    server = FileServer(CONTENT)
    with client(server) as api:
        api.download(DOC, "f", tmp_path / "out.pdf")
    assert [r.headers.get("Range") for r in server.requests] == [f"bytes={len(CONTENT) + 4}-", None]
    assert (tmp_path / "out.pdf").read_bytes() == CONTENT


def test_an_etag_mismatch_raises_and_leaves_nothing_not_even_the_old_file_changed(
    tmp_path: Path,
) -> None:
    dest = tmp_path / "out.pdf"
    dest.write_bytes(b"previous version")
    server = FileServer(CONTENT, etag=hashlib.sha256(b"something else").hexdigest())
    with client(server) as api, pytest.raises(IntegrityError) as caught:
        api.download(DOC, "f", dest)
    assert caught.value.error == "integrity_mismatch"
    assert dest.read_bytes() == b"previous version"
    assert os.listdir(tmp_path) == ["out.pdf"]


def test_a_full_disk_is_an_oserror_not_an_integrity_mismatch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from docex_client import downloads

    def no_space(self: downloads.Receiver, chunk: bytes) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(downloads.Receiver, "write", no_space)
    with client(FileServer(CONTENT)) as api, pytest.raises(OSError, match="No space") as caught:
        api.download(DOC, "f", tmp_path / "out.pdf")
    assert caught.value.errno == errno.ENOSPC
    assert not isinstance(caught.value, IntegrityError)
    assert os.listdir(tmp_path) == []  # the partial file is removed: the space comes back


def test_a_download_to_a_file_object_checks_the_expected_hash(tmp_path: Path) -> None:
    sink = io.BytesIO()
    with client(FileServer(CONTENT)) as api:
        assert api.download(DOC, "f", sink, expected_sha256=DIGEST.upper()).path is None
        assert sink.getvalue() == CONTENT
        with pytest.raises(IntegrityError):
            api.download(DOC, "f", io.BytesIO(), expected_sha256="ab" * 32)


def test_a_download_of_an_invisible_file_is_not_found_and_creates_nothing(tmp_path: Path) -> None:
    response = httpx.Response(404, json={"error": "document_not_found", "detail": "no such"})
    with client(Recorder([response])) as api, pytest.raises(NotFoundError):
        api.download(DOC, "f", tmp_path / "x.pdf")
    assert os.listdir(tmp_path) == []
