"""Downloads answer one byte range (RFC 9110 §14), which is how a cut download resumes."""

from __future__ import annotations

import hashlib

import pytest
from fastapi.testclient import TestClient

from docex.documents.ranges import ByteRange, requested_range, sliced
from docex.errors import RangeNotSatisfiable
from tests.helpers import G22, H41, as_sent, audit_events, auth, deliver, envelope, pdf, send

ETAG = '"' + "ab" * 32 + '"'


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-", (0, 99)),
        ("bytes=10-19", (10, 19)),
        ("bytes=90-1000", (90, 99)),
        ("bytes=-5", (95, 99)),
        ("bytes=-500", (0, 99)),
        ("BYTES=3-3", (3, 3)),
        ("bytes=5-2", None),  # invalid: ignored, the whole file
        ("bytes=0-1,5-6", None),  # several ranges: the whole file
        ("lines=1-2", None),
        ("bytes=-", None),
        (None, None),
    ],
)
def test_one_range_is_understood_the_rest_means_the_whole_file(
    header: str | None, expected: tuple[int, int] | None
) -> None:
    wanted = requested_range(header, None, size=100, etag=ETAG)
    assert (wanted and (wanted.first, wanted.last)) == expected


@pytest.mark.parametrize(
    ("header", "size"), [("bytes=100-", 100), ("bytes=-0", 100), ("bytes=0-", 0)]
)
def test_a_range_past_the_end_is_416_with_the_size(header: str, size: int) -> None:
    with pytest.raises(RangeNotSatisfiable) as refused:
        requested_range(header, None, size=size, etag=ETAG)
    assert refused.value.status == 416
    assert refused.value.headers == {"Content-Range": f"bytes */{size}"}


def test_if_range_must_be_the_files_own_strong_etag() -> None:
    assert requested_range("bytes=5-", ETAG, size=100, etag=ETAG) is not None
    assert requested_range("bytes=5-", "W/" + ETAG, size=100, etag=ETAG) is None
    assert requested_range("bytes=5-", '"other"', size=100, etag=ETAG) is None
    assert requested_range("bytes=5-", "Wed, 25 Nov 2026 07:00:00 GMT", size=100, etag=ETAG) is None


def test_sliced_cuts_the_range_out_of_chunks_of_any_size() -> None:
    data = bytes(range(256)) * 40
    chunks = [data[i : i + 777] for i in range(0, len(data), 777)]
    for first, last in ((0, 0), (776, 777), (1000, 5000), (0, len(data) - 1), (9000, 10239)):
        wanted = ByteRange(first, last, len(data))
        assert b"".join(sliced(iter(chunks), wanted)) == data[first : last + 1]


def _sent_file(client: TestClient, credentials: dict) -> tuple[str, str, bytes]:
    main = pdf("Công văn tải từng đoạn", size=300_000)
    response = send(client, auth(credentials, G22), envelope([H41]), main)
    assert response.status_code == 201, response.text
    assert deliver(client) == 1
    document = response.json()
    return document["id"], document["files"][0]["id"], as_sent(main)


def test_a_download_resumes_with_a_range_and_the_whole_hashes_to_the_etag(
    client: TestClient, credentials: dict
) -> None:
    document_id, file_id, data = _sent_file(client, credentials)
    url = f"/api/v1/documents/{document_id}/files/{file_id}"
    headers = auth(credentials, H41)
    whole = client.get(url, headers=headers)
    assert whole.status_code == 200
    assert whole.headers["Accept-Ranges"] == "bytes"
    etag = whole.headers["ETag"]
    assert etag == f'"{hashlib.sha256(data).hexdigest()}"'

    cut = 123_457
    rest = client.get(url, headers={**headers, "Range": f"bytes={cut}-", "If-Range": etag})
    assert rest.status_code == 206
    assert rest.headers["Content-Range"] == f"bytes {cut}-{len(data) - 1}/{len(data)}"
    assert int(rest.headers["Content-Length"]) == len(data) - cut
    assert rest.headers["ETag"] == etag
    assert hashlib.sha256(whole.content[:cut] + rest.content).hexdigest() == etag.strip('"')

    middle = client.get(url, headers={**headers, "Range": "bytes=1000-1010"})
    assert (middle.status_code, middle.content) == (206, data[1000:1011])
    reads = audit_events(client, "storage:file:read")
    assert reads[-2].detail["range"] == f"bytes {cut}-{len(data) - 1}/{len(data)}"


def test_a_stale_if_range_gets_the_whole_file_and_past_the_end_is_416(
    client: TestClient, credentials: dict
) -> None:
    document_id, file_id, data = _sent_file(client, credentials)
    url = f"/api/v1/documents/{document_id}/files/{file_id}"
    headers = auth(credentials, H41)
    stale = client.get(url, headers={**headers, "Range": "bytes=10-", "If-Range": '"0000"'})
    assert stale.status_code == 200
    assert stale.content == data
    past = client.get(url, headers={**headers, "Range": f"bytes={len(data)}-"})
    assert past.status_code == 416
    assert past.headers["Content-Range"] == f"bytes */{len(data)}"
    assert past.json()["error"] == "range_not_satisfiable"
    assert (
        audit_events(client, "api:request:refused")[-1].detail["error"] == "range_not_satisfiable"
    )


def test_a_range_of_a_file_you_may_not_read_is_still_not_found(
    client: TestClient, credentials: dict
) -> None:
    document_id, file_id, _ = _sent_file(client, credentials)
    response = client.get(
        f"/api/v1/documents/{document_id}/files/{file_id}",
        headers={**auth(credentials, "000.00.00.H26"), "Range": "bytes=0-"},
    )
    assert response.status_code == 404
