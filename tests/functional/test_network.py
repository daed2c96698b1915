"""Three real nodes talking HTTP: the hub (on PostgreSQL + S3) and two provinces (SQLite + files),
set up as ``docex network demo`` sets them up, each its own process, database and blob store.

A commune of Nghệ An writes to a ministry on the hub and to a commune of Hà Nội (through the
hub): both receive it once, the statuses come back, the traces show every hop, and the three
audit logs carry each other's cosignatures. A confidential document relayed by the hub is only
ciphertext there. A node killed in the middle of a transfer, and restarted, ends up with the
document once. With the hub down the provinces keep their directory and go round the hub.
The hub's supervision centre counts what crossed as the provinces count it.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from minio import Minio

from docex.interop import DocumentPackage, PackageFile, document_to_edxml, parse_package
from docex.kit.samplepdf import sample_pdf
from docex.network import NODES, node_env, prepare
from tests.interop.samples import sample
from tests.storage.seaweed import SeaweedFS

pytestmark = pytest.mark.functional

DOCEX = str(Path(sys.executable).with_name("docex"))
DIENCHAU = "001.00.41.H41"  # a commune of Nghệ An (node nghean)
SOCSON = "001.00.26.H26"  # a commune of Hà Nội (node hanoi)
G22 = "000.00.00.G22"  # a ministry-level office on the hub
SECRET_MARKER = b"NOIDUNG-MAT-LIENTINH-5531"
VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")
WAIT = 90.0  # seconds a test waits for something to cross the network before failing


def _free_base() -> int:
    """A port P with P, P+1 and P+2 free."""
    for _ in range(200):
        base = 20000 + secrets.randbelow(40000)
        try:
            for offset in range(3):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", base + offset))
        except OSError:
            continue
        return base
    raise RuntimeError("no three free ports in a row")


class Network:
    """The three nodes of the demo topology, started and stopped one by one."""

    def __init__(self, root: Path, extra: dict[str, dict[str, str]]) -> None:
        self.root = root
        self.base = _free_base()
        self.extra = extra
        self.version = prepare(root, self.base, extra)
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.nodes = {node.id: node for node in NODES}
        self.hosts = {code: node.id for node in NODES for code in node.agencies}

    def url(self, node_id: str) -> str:
        return f"http://127.0.0.1:{self.base + self.nodes[node_id].offset}"

    def start(self, node_id: str, **more: str) -> None:
        env = node_env(self.root, self.nodes[node_id], self.base, self.extra)
        env.update(more)
        with (self.root / f"{node_id}.log").open("ab") as log:
            self.procs[node_id] = subprocess.Popen(
                [DOCEX, "serve"], env=env, stdout=log, stderr=log, stdin=subprocess.DEVNULL
            )
        self.wait_ready(node_id)

    def wait_ready(self, node_id: str) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            proc = self.procs[node_id]
            if proc.poll() is not None:
                log = (self.root / f"{node_id}.log").read_text(errors="replace")
                raise AssertionError(f"{node_id} exited:\n{log[-3000:]}")
            try:
                if httpx.get(f"{self.url(node_id)}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"{node_id} not ready")

    def stop(self, node_id: str) -> None:
        proc = self.procs.pop(node_id, None)
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)

    def exited(self, node_id: str, timeout: float) -> int | None:
        try:
            return self.procs[node_id].wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def credentials(self, node_id: str) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(
            (self.root / node_id / "demo-credentials.json").read_text(encoding="utf-8")
        )
        return data

    def headers(self, agency: str, role: str = "clerk") -> dict[str, str]:
        people = self.credentials(self.hosts[agency])["agencies"][agency]
        return {"Authorization": f"Bearer {people[role]['token']}"}

    def staff(self, node_id: str, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.credentials(node_id)[role]['token']}"}

    def get(self, agency: str, path: str, role: str = "clerk") -> httpx.Response:
        return httpx.get(
            f"{self.url(self.hosts[agency])}{path}", headers=self.headers(agency, role), timeout=30
        )

    def signed_pdf(self, sender: str, subject: str) -> bytes:
        """A PDF signed the Decree 30 way on the sender's node: its leader signs, its clerk
        seals."""
        url = self.url(self.hosts[sender])
        data = sample_pdf(subject, seed=uuid.uuid4().bytes)
        for role, who in (("signer", "leader"), ("seal", "clerk")):
            signed = httpx.post(
                f"{url}/api/v1/pdf/sign",
                files={"file": ("cv.pdf", data, "application/pdf")},
                data={"as": role},
                headers=self.headers(sender, who),
                timeout=60,
            )
            assert signed.status_code == 200, signed.text
            data = signed.content
        return data

    def send(self, sender: str, recipients: list[str], subject: str, **fields: Any) -> str:
        """Send a signed PDF from ``sender``; the document id."""
        url = self.url(self.hosts[sender])
        data = self.signed_pdf(sender, subject)
        envelope = {
            "recipients": recipients,
            "subject": subject,
            "code": {"number": str(1 + secrets.randbelow(9999)), "notation": "UBND-VP"},
            **fields,
        }
        sent = httpx.post(
            f"{url}/api/v1/documents",
            files=[
                ("envelope", (None, json.dumps(envelope), "application/json")),
                ("main", ("cv.pdf", data, "application/pdf")),
                ("attachment", ("phu-luc.txt", SECRET_MARKER * 200, "text/plain")),
            ],
            headers=self.headers(sender),
            timeout=60,
        )
        assert sent.status_code == 201, sent.text
        return str(sent.json()["id"])

    def close(self) -> None:
        for node_id in list(self.procs):
            self.stop(node_id)


def until(what: str, check: Callable[[], Any]) -> Any:
    """Poll ``check`` until it returns something true; its value."""
    deadline = time.monotonic() + WAIT
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except (httpx.HTTPError, KeyError, StopIteration):
            last = None
        if last:
            return last
        time.sleep(0.25)
    raise AssertionError(f"gave up waiting for {what} (last seen: {last!r})")


def inbox_ids(net: Network, agency: str) -> list[str]:
    items = net.get(agency, "/api/v1/inbox").json()["items"]
    return [item["document_id"] for item in items]


def recipient(net: Network, sender: str, document_id: str, agency: str) -> dict[str, Any]:
    view = net.get(sender, f"/api/v1/documents/{document_id}").json()
    found: dict[str, Any] = next(r for r in view["recipients"] if r["agency_id"] == agency)
    return found


@pytest.fixture(scope="module")
def network(
    tmp_path_factory: pytest.TempPathFactory, pg_server: str, seaweedfs: SeaweedFS
) -> Iterator[Network]:
    from tests.conftest import _pg_admin, _with_db

    seaweedfs.start()
    name = f"net_{uuid.uuid4().hex[:12]}"
    _pg_admin(pg_server, f"CREATE DATABASE {name}")
    bucket = f"hub-{uuid.uuid4().hex[:12]}"
    quick = {
        "DOCEX_FEDERATION__WITNESS_INTERVAL_SECONDS": "1",
        "DOCEX_FEDERATION__FETCH_INTERVAL_SECONDS": "2",
        "DOCEX_FEDERATION__BACKOFF_BASE_SECONDS": "0.2",
        "DOCEX_FEDERATION__BACKOFF_CAP_SECONDS": "1",
        "DOCEX_AUDIT__CHECKPOINT_INTERVAL_SECONDS": "1",
        "DOCEX_STATS__PUSH_INTERVAL_SECONDS": "1",
        "DOCEX_LOG_FORMAT": "text",
    }
    extra = {
        "hub": {
            **quick,
            "DOCEX_DATABASE_URL": _with_db(pg_server, name),
            "DOCEX_STORAGE__S3_ENDPOINT": seaweedfs.endpoint,
            "DOCEX_STORAGE__S3_ACCESS_KEY": seaweedfs.access_key,
            "DOCEX_STORAGE__S3_SECRET_KEY": seaweedfs.secret_key,
            "DOCEX_STORAGE__S3_BUCKET": bucket,
        },
        "nghean": quick,
        "hanoi": quick,
    }
    net = Network(tmp_path_factory.mktemp("network"), extra)
    net.bucket = bucket  # type: ignore[attr-defined]
    try:
        for node in NODES:
            net.start(node.id)
        yield net
    finally:
        net.close()
        _pg_admin(pg_server, f"DROP DATABASE {name} WITH (FORCE)")


def test_a_commune_writes_to_the_hub_and_to_another_province_and_hears_back(
    network: Network,
) -> None:
    net = network
    document_id = net.send(DIENCHAU, [G22, SOCSON], "Báo cáo liên tỉnh về phòng chống bão")

    # Both recipients receive it once: one on the hub, one two hops away through the hub.
    until("G22's inbox on the hub", lambda: document_id in inbox_ids(net, G22))
    until("Sóc Sơn's inbox on hanoi", lambda: document_id in inbox_ids(net, SOCSON))
    assert inbox_ids(net, G22).count(document_id) == 1
    assert inbox_ids(net, SOCSON).count(document_id) == 1

    # The recipient reads the same bytes the sender signed, on its own node.
    view = net.get(SOCSON, f"/api/v1/documents/{document_id}").json()
    attachment = next(f for f in view["files"] if f["role"] == "attachment")
    got = net.get(SOCSON, f"/api/v1/documents/{document_id}/files/{attachment['id']}")
    assert got.content == SECRET_MARKER * 200

    # 01 from both nodes comes back to the sender's node, then Sóc Sơn's 03.
    for agency, node in ((G22, "hub"), (SOCSON, "hanoi")):

        def arrived(agency: str = agency) -> bool:
            return bool(recipient(net, DIENCHAU, document_id, agency)["transport"] == "delivered")

        until(f"{agency}'s 01 at the sender", arrived)
        assert recipient(net, DIENCHAU, document_id, agency)["node"] == node
    accepted = httpx.post(
        f"{net.url('hanoi')}/api/v1/documents/{document_id}/statuses",
        json={"code": "03", "incoming_number": "15/ĐẾN"},
        headers=net.headers(SOCSON),
        timeout=30,
    )
    assert accepted.status_code == 201, accepted.text
    until(
        "the 03 at the sender",
        lambda: recipient(net, DIENCHAU, document_id, SOCSON)["status"] == "03",
    )

    # Every node's trace holds its hop: the hub relayed (received from nghean, sent to hanoi);
    # hanoi received it from the hub with the whole trace so far.
    def trace(agency: str, node: str, role: str = "clerk") -> list[dict[str, Any]]:
        headers = net.headers(agency, role) if role != "auditor" else net.staff(node, "auditor")
        answer = httpx.get(
            f"{net.url(node)}/api/v1/documents/{document_id}/trace", headers=headers, timeout=30
        )
        assert answer.status_code == 200, answer.text
        items: list[dict[str, Any]] = answer.json()["items"]
        return items

    at_hanoi = trace(SOCSON, "hanoi")
    received = next(i for i in at_hanoi if i["event"] == "federation:document:received")
    assert received["detail"]["from_node"] == "hub"
    assert [hop["node"] for hop in received["detail"]["trace"]] == ["nghean", "hub", "hanoi"]
    at_hub = [i["event"] for i in trace(G22, "hub", "auditor")]
    assert "federation:document:received" in at_hub
    assert "federation:transfer:sent" in at_hub
    at_nghean = [i["event"] for i in trace(DIENCHAU, "nghean")]
    assert "federation:transfer:sent" in at_nghean

    # The three audit logs verify, and each checkpoint is cosigned by the two other nodes.
    for node in ("hub", "nghean", "hanoi"):
        others = {f"{n}/witness" for n in ("hub", "nghean", "hanoi") if n != node}

        def cosigned(node: str = node, others: set[str] = others) -> bool:
            checkpoint = httpx.get(
                f"{net.url(node)}/federation/v1/audit/checkpoint", timeout=10
            ).json()
            return others <= {c["name"] for c in checkpoint["cosignatures"]}

        until(f"{node}'s checkpoint cosigned by its peers", cosigned)
        env = node_env(net.root, net.nodes[node], net.base, net.extra)
        verified = subprocess.run(
            [DOCEX, "audit", "verify", "--json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert verified.returncode == 0, verified.stdout + verified.stderr


def test_a_confidential_document_relayed_by_the_hub_is_ciphertext_there(
    network: Network, seaweedfs: SeaweedFS
) -> None:
    net = network
    document_id = net.send(
        DIENCHAU, [SOCSON], "Văn bản mật gửi liên tỉnh", classification="confidential"
    )
    until("the confidential document at Sóc Sơn", lambda: document_id in inbox_ids(net, SOCSON))
    view = net.get(SOCSON, f"/api/v1/documents/{document_id}").json()
    attachment = next(f for f in view["files"] if f["role"] == "attachment")
    path = f"/api/v1/documents/{document_id}/files/{attachment['id']}"
    assert net.get(SOCSON, path).content == SECRET_MARKER * 200  # cleared, on its own node

    # The hub stored what it relayed, and cannot read it: no plaintext in its bucket, and
    # nobody on the hub gets the file.
    bucket = Minio(
        seaweedfs.endpoint,
        access_key=seaweedfs.access_key,
        secret_key=seaweedfs.secret_key,
        secure=False,
    )
    name = net.bucket  # type: ignore[attr-defined]
    objects = list(bucket.list_objects(name, recursive=True))
    assert objects
    for obj in objects:
        assert obj.object_name is not None
        response = bucket.get_object(name, obj.object_name)
        try:
            raw = response.read()
        finally:
            response.close()
            response.release_conn()
        assert SECRET_MARKER not in raw
    for role in ("auditor", "admin"):
        answer = httpx.get(f"{net.url('hub')}{path}", headers=net.staff("hub", role), timeout=30)
        assert answer.status_code in (403, 404), (role, answer.status_code)
    answer = httpx.get(f"{net.url('hub')}{path}", headers=net.headers(G22), timeout=30)
    assert answer.status_code == 404


def test_a_node_killed_in_the_middle_of_a_transfer_gets_the_document_once(
    network: Network,
) -> None:
    net = network
    # hanoi dies with the transfer written but not committed; restarted, it gets it again from
    # the hub, once.
    net.stop("hanoi")
    net.procs["hanoi"] = subprocess.Popen(
        [DOCEX, "serve"],
        env={
            **node_env(net.root, net.nodes["hanoi"], net.base, net.extra),
            "DOCEX_FAULT_INJECT": "transfer:received:before_commit",
        },
        stdout=(net.root / "hanoi.log").open("ab"),
        stderr=subprocess.STDOUT,
    )
    net.wait_ready("hanoi")
    document_id = net.send(G22, [SOCSON], "Gửi khi nút nhận đang sập")
    assert net.exited("hanoi", WAIT) == 137  # killed at the crash point
    net.start("hanoi")
    until("the document at Sóc Sơn", lambda: document_id in inbox_ids(net, SOCSON))
    assert inbox_ids(net, SOCSON).count(document_id) == 1

    # The hub dies after hanoi answered, before it noted the receipt: the retry is a replay
    # that hanoi answers with its receipt, and nothing is stored twice.
    net.stop("hub")
    net.procs["hub"] = subprocess.Popen(
        [DOCEX, "serve"],
        env={
            **node_env(net.root, net.nodes["hub"], net.base, net.extra),
            "DOCEX_FAULT_INJECT": "transfer:after_send",
        },
        stdout=(net.root / "hub.log").open("ab"),
        stderr=subprocess.STDOUT,
    )
    net.wait_ready("hub")
    second = net.send(G22, [SOCSON], "Gửi khi nút gửi sập")
    assert net.exited("hub", WAIT) == 137
    net.start("hub")
    until("the second document at Sóc Sơn", lambda: second in inbox_ids(net, SOCSON))
    until(
        "its 01 at the hub",
        lambda: recipient(net, G22, second, SOCSON)["transport"] == "delivered",
    )
    assert inbox_ids(net, SOCSON).count(second) == 1


def test_with_the_hub_down_the_provinces_keep_exchanging_on_their_last_directory(
    network: Network,
) -> None:
    net = network
    version = httpx.get(f"{net.url('nghean')}/readyz", timeout=10).json()["directory"]["version"]
    net.stop("hub")
    try:
        # The provinces keep working on the last good directory.
        time.sleep(3)  # more than one fetch interval with the hub down
        for node in ("nghean", "hanoi"):
            ready = httpx.get(f"{net.url(node)}/readyz", timeout=10)
            assert ready.status_code == 200
            assert ready.json()["directory"]["version"] == version
        # Within a province, mail goes on.
        local = net.send(DIENCHAU, ["000.00.00.H41"], "Trong tỉnh khi trung tâm ngừng")
        until("the province's own mail", lambda: local in inbox_ids(net, "000.00.00.H41"))
        # To the other province: the hub cannot be reached, so after a few attempts the
        # document goes straight to hanoi, and its 01 and 03 straight back.
        far = net.send(DIENCHAU, [SOCSON], "Liên tỉnh khi trung tâm ngừng")
        until("the far mail with the hub down", lambda: far in inbox_ids(net, SOCSON))
        until(
            "its 01 back at nghean",
            lambda: recipient(net, DIENCHAU, far, SOCSON)["transport"] == "delivered",
        )
        answered = httpx.post(
            f"{net.url('hanoi')}/api/v1/documents/{far}/statuses",
            json={"code": "03", "incoming_number": "16/ĐẾN"},
            headers=net.headers(SOCSON),
            timeout=30,
        )
        assert answered.status_code == 201, answered.text
        until("its 03 back", lambda: recipient(net, DIENCHAU, far, SOCSON)["status"] == "03")
        items = net.get(SOCSON, f"/api/v1/documents/{far}/trace").json()["items"]
        received = next(i for i in items if i["event"] == "federation:document:received")
        assert [hop["node"] for hop in received["detail"]["trace"]] == ["nghean", "hanoi"]
    finally:
        net.start("hub")
    # The copy that waited for the hub goes through it once it is back, and changes nothing.
    until(
        "the copy through the hub",
        lambda: (
            "federation:document:received"
            in [
                i["event"]
                for i in httpx.get(
                    f"{net.url('hub')}/api/v1/documents/{far}/trace",
                    headers=net.staff("hub", "auditor"),
                    timeout=30,
                ).json()["items"]
            ]
        ),
    )
    time.sleep(3)  # the hub relays it on; hanoi takes it as the duplicate it is
    assert inbox_ids(net, SOCSON).count(far) == 1
    assert recipient(net, DIENCHAU, far, SOCSON)["status"] == "03"


def test_a_legacy_systems_edxml_package_reaches_a_recipient_on_another_node(
    network: Network, tmp_path: Path
) -> None:
    """Document-management software already in service at Diễn Châu hands docex an edXML
    package (a sample from the national hub's kit, addressed to Sóc Sơn on the other province):
    it goes through intake on nghean and arrives on hanoi, where it exports back as edXML."""
    net = network
    package = parse_package(sample("edoc_new.edxml"), spool_dir=tmp_path)
    assert isinstance(package, DocumentPackage)
    main = tmp_path / "main.pdf"
    main.write_bytes(net.signed_pdf(DIENCHAU, "Công văn từ phần mềm quản lý văn bản"))
    pdf = PackageFile.from_path(
        main, role="main", content_id="cid:main", content_type="application/pdf"
    )
    adapted = dataclasses.replace(
        package,
        sender_id=DIENCHAU,
        envelope=package.envelope.model_copy(update={"recipients": [SOCSON]}),
        document_id=f"{DIENCHAU},2026/11/26,{uuid.uuid4().hex[:8]}",
        files=(pdf, *package.files),
    )
    answer = httpx.post(
        f"{net.url('nghean')}/api/v1/edxml",
        content=document_to_edxml(adapted),
        headers={**net.headers(DIENCHAU, "system"), "Content-Type": "application/xml"},
        timeout=60,
    )
    assert answer.status_code == 201, answer.text
    document_id = answer.json()["id"]
    until("the legacy package at Sóc Sơn", lambda: document_id in inbox_ids(net, SOCSON))
    exported = net.get(SOCSON, f"/api/v1/documents/{document_id}/edxml")
    assert exported.status_code == 200
    back = parse_package(exported.content, spool_dir=tmp_path)
    assert isinstance(back, DocumentPackage)
    assert back.sender_id == DIENCHAU
    assert back.document_id == adapted.document_id


def test_the_hub_s_supervision_centre_counts_what_crossed_as_the_provinces_do(
    network: Network,
) -> None:
    """Quỳnh Lưu (Nghệ An) writes twice to Phù Đổng (Hà Nội) and once with an unsigned PDF;
    Phù Đổng accepts one and returns the other. Each province pushes its figures to the hub over
    the federation: the hub's supervisor reads the hand-counted rows, the same as each
    province's own."""
    net = network
    sender, recipient_id = "002.00.41.H41", "002.00.26.H26"
    first = net.send(sender, [recipient_id], "Thống kê liên tỉnh 1")
    second = net.send(sender, [recipient_id], "Thống kê liên tỉnh 2")
    unsigned = httpx.post(
        f"{net.url('nghean')}/api/v1/documents",
        files=[
            (
                "envelope",
                (
                    None,
                    json.dumps(
                        {
                            "recipients": [recipient_id],
                            "subject": "x",
                            "code": {"number": "1", "notation": "UBND-VP"},
                        }
                    ),
                    "application/json",
                ),
            ),
            ("main", ("cv.pdf", sample_pdf("chưa ký"), "application/pdf")),
        ],
        headers=net.headers(sender),
        timeout=60,
    )
    assert unsigned.status_code == 422, unsigned.text
    until(
        "both documents at Phù Đổng",
        lambda: {first, second} <= set(inbox_ids(net, recipient_id)),
    )
    for document_id, body in (
        (first, {"code": "03", "incoming_number": "21/ĐẾN"}),
        (second, {"code": "02", "note": "Không đúng thẩm quyền"}),
    ):
        answered = httpx.post(
            f"{net.url('hanoi')}/api/v1/documents/{document_id}/statuses",
            json=body,
            headers=net.headers(recipient_id),
            timeout=30,
        )
        assert answered.status_code == 201, answered.text
    until(
        "the 02 at the sender",
        lambda: recipient(net, sender, second, recipient_id)["status"] == "02",
    )

    def rows(node: str) -> dict[str, dict[str, Any]]:
        today = datetime.now(VIETNAM).date()
        answer = httpx.get(
            f"{net.url(node)}/api/v1/stats/agencies",
            params={"from": str(today - timedelta(days=1)), "to": str(today)},
            headers=net.staff(node, "supervisor"),
            timeout=30,
        )
        assert answer.status_code == 200, answer.text
        return {row["agency_id"]: row for row in answer.json()["items"]}

    def counted(row: dict[str, Any]) -> tuple[int, ...]:
        fields = ("sent", "received", "accepted", "returned", "failed", "signature_refusals")
        return tuple(row[f] for f in fields)

    expected = {sender: (2, 0, 0, 0, 0, 1), recipient_id: (0, 2, 1, 1, 0, 0)}
    for code, node in ((sender, "nghean"), (recipient_id, "hanoi")):
        assert counted(rows(node)[code]) == expected[code]

        def collected(code: str = code, node: str = node) -> bool:
            return rows("hub")[code] == rows(node)[code]

        until(f"{code}'s figures at the hub", collected)
        assert counted(rows("hub")[code]) == expected[code]
    assert rows("hub")[sender]["median_to_01_s"] is not None
    assert rows("hub")[recipient_id]["node_id"] == "hanoi"
