"""README's promise: a node runs on SeaweedFS by setting three variables, and a stolen bucket
reveals nothing, not even of a confidential document."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from minio import Minio

from tests.functional.conftest import NodeProcess, signed_pdf
from tests.helpers import G22, H41
from tests.storage.seaweed import SeaweedFS

pytestmark = pytest.mark.functional

MARKER = b"NOIDUNGMAT-S3-7788"


def test_node_on_seaweedfs_with_three_variables(
    node_process: NodeProcess, running_seaweedfs: SeaweedFS, tmp_path: Path
) -> None:
    node = node_process
    s3 = {
        "DOCEX_STORAGE__S3_ENDPOINT": running_seaweedfs.endpoint,
        "DOCEX_STORAGE__S3_ACCESS_KEY": running_seaweedfs.access_key,
        "DOCEX_STORAGE__S3_SECRET_KEY": running_seaweedfs.secret_key,
    }
    node.cli("init", "--demo", env=s3)  # creates the default bucket, "docex"
    node.start(**s3)
    creds = ["--credentials", str(node.data_dir / "demo-credentials.json"), "--url", node.url]
    attachment = tmp_path / "phu-luc.txt"
    attachment.write_bytes(MARKER * 1000)
    main = tmp_path / "cv.pdf"
    main.write_bytes(signed_pdf(node, "Lưu trên S3"))
    sent = json.loads(
        node.cli(
            "send",
            str(main),
            "--to",
            H41,
            "--subject",
            "Lưu trên S3",
            "--attach",
            str(attachment),
            "--classification",
            "confidential",  # wrapped for the agencies' keys only: the node's KEK cannot read it
            "--as",
            f"{G22}/leader",
            "--json",
            *creds,
        ).stdout
    )
    attachment_id = next(f["id"] for f in sent["files"] if f["role"] == "attachment")
    out = tmp_path / "back.txt"
    node.cli("download", sent["id"], attachment_id, "-o", str(out), "--as", f"{H41}/clerk", *creds)
    assert out.read_bytes() == attachment.read_bytes()

    assert not (node.data_dir / "blobs").exists() or not any((node.data_dir / "blobs").rglob("f*"))
    bucket = Minio(
        running_seaweedfs.endpoint,
        access_key=running_seaweedfs.access_key,
        secret_key=running_seaweedfs.secret_key,
        secure=False,
    )
    objects = list(bucket.list_objects("docex", recursive=True))
    assert len(objects) == 2
    for obj in objects:
        assert obj.object_name is not None
        response = bucket.get_object("docex", obj.object_name)
        try:
            raw = response.read()
        finally:
            response.close()
            response.release_conn()
        assert raw[:4] == b"DXB1"
        assert MARKER not in raw
