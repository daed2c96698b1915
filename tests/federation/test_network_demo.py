"""``docex network demo DIR``: three real processes (a hub, two provinces) each with its own
data directory and people, sharing one signed directory; DIR/network.json says where each is;
Ctrl-C (SIGINT) or SIGTERM stops all three."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from tests.functional.conftest import DOCEX, free_port
from tests.helpers import A01, C1, C2, G22, H26, H41, I01

EXPECTED = {
    "hub": [G22, I01, A01],
    "nghean": [H41, C1, C2],
}


def _three_free_ports() -> int:
    for _ in range(50):
        base = free_port()
        try:
            for port in (base + 1, base + 2):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise AssertionError("no three consecutive free ports")


def _wait_for(path: Path, proc: subprocess.Popen[bytes], log: Path) -> dict[str, Any]:
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the demo exited:\n{log.read_text()[-3000:]}")
        if path.exists():
            data: dict[str, Any] = json.loads(path.read_text())
            return data
        time.sleep(0.2)
    raise AssertionError(f"no network.json:\n{log.read_text()[-3000:]}")


@pytest.mark.functional
@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_network_demo_runs_three_nodes_on_one_signed_directory(
    tmp_path: Path, stop: signal.Signals
) -> None:
    base = _three_free_ports()
    root = tmp_path / "network"
    log = tmp_path / "demo.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCEX_")}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [DOCEX, "network", "demo", str(root), "--base-port", str(base)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    demo = psutil.Process(proc.pid)
    try:
        network = _wait_for(root / "network.json", proc, log)
        nodes = network["nodes"]
        assert list(nodes) == ["hub", "nghean", "hanoi"]
        assert nodes["hub"]["agencies"] == EXPECTED["hub"]
        assert nodes["nghean"]["agencies"] == EXPECTED["nghean"]
        hanoi = nodes["hanoi"]["agencies"]
        assert hanoi[0] == H26
        assert len(hanoi) == 3
        assert all(re.fullmatch(r"\d{3}\.00\.26\.H26", code) for code in hanoi[1:])

        versions = set()
        everyone = [code for node in nodes.values() for code in node["agencies"]]
        for offset, (node_id, node) in enumerate(nodes.items()):
            assert node["base_url"] == f"http://127.0.0.1:{base + offset}"
            ready = httpx.get(f"{node['base_url']}/readyz", timeout=10)
            assert ready.status_code == 200
            directory = ready.json()["directory"]
            assert directory["stale"] is False
            versions.add(directory["version"])

            # Its own people, for the agencies it hosts only.
            credentials = json.loads(Path(node["credentials"]).read_text())
            assert Path(node["credentials"]) == root / node_id / "demo-credentials.json"
            assert credentials["node_id"] == node_id
            assert credentials["base_url"] == node["base_url"]
            assert list(credentials["agencies"]) == node["agencies"]

            # Every node knows every agency of the network, and where it is hosted.
            clerk = credentials["agencies"][node["agencies"][0]]["clerk"]["token"]
            listed = httpx.get(
                f"{node['base_url']}/api/v1/agencies",
                params={"limit": 100},
                headers={"Authorization": f"Bearer {clerk}"},
                timeout=10,
            ).json()["items"]
            hosts = {a["id"]: a["node_id"] for a in listed}
            assert sorted(hosts) == sorted(everyone)
            assert {hosts[code] for code in nodes["nghean"]["agencies"]} == {"nghean"}
            assert {hosts[code] for code in hanoi} == {"hanoi"}
            assert {hosts[code] for code in nodes["hub"]["agencies"]} == {"hub"}
        assert len(versions) == 1  # one directory, the hub's, on all three

        servers = demo.children()
        assert len(servers) == 3
        proc.send_signal(stop)
        assert proc.wait(60) == 0
        _gone, alive = psutil.wait_procs(servers, timeout=30)
        assert alive == []
        for node in nodes.values():
            with pytest.raises(httpx.TransportError):
                httpx.get(f"{node['base_url']}/readyz", timeout=2)
        assert "stopped" in log.read_text()
    finally:
        if proc.poll() is None:
            for child in demo.children():
                child.kill()
            proc.kill()
            proc.wait(10)
