"""Real ``docex`` processes on 127.0.0.1: started, killed with SIGKILL, restarted."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest

DOCEX = str(Path(sys.executable).with_name("docex"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class NodeProcess:
    def __init__(self, data_dir: Path, *, database_url: str | None = None) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.database_url = database_url
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = data_dir.parent / f"{data_dir.name}.log"

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DOCEX_")}
        env.update(
            DOCEX_DATA_DIR=str(self.data_dir),
            DOCEX_PORT=str(self.port),
            DOCEX_HOST="127.0.0.1",
            DOCEX_NODE_ID="functional-node",
        )
        if self.database_url:
            env["DOCEX_DATABASE_URL"] = self.database_url
        env.update(extra)
        return env

    def cli(
        self,
        *args: str,
        check: bool = True,
        env: Mapping[str, str] | None = None,
        **more_env: str,
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [DOCEX, *args],
            env=self.env(**{**(env or {}), **more_env}),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"docex {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
            )
        return result

    def start(self, *args: str, **env: str) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [DOCEX, "serve", *args], env=self.env(**env), stdout=log, stderr=log
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"docex serve exited:\n{self.log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"docex serve not ready:\n{self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()  # drains: DOCEX_SHUTDOWN_GRACE_SECONDS (10), then a cut
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()

    def credentials(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.data_dir / "demo-credentials.json").read_text())
        return data


@pytest.fixture
def node_process(tmp_path: Path) -> Iterator[NodeProcess]:
    node = NodeProcess(tmp_path / "node")
    yield node
    node.stop()


def signed_pdf(
    node: NodeProcess, title: str, *, agency: str = "000.00.00.G22", seed: bytes = b""
) -> bytes:
    """A sample PDF signed the Decree 30 way through the node's own signing service: the
    agency's leader signs, its clerk seals."""
    from docex.kit.samplepdf import sample_pdf

    people = node.credentials()["agencies"][agency]
    data = sample_pdf(title, seed=seed)
    for role, who in (("signer", "leader"), ("seal", "clerk")):
        response = httpx.post(
            f"{node.url}/api/v1/pdf/sign",
            files={"file": ("cv.pdf", data, "application/pdf")},
            data={"as": role},
            headers={"Authorization": f"Bearer {people[who]['token']}"},
            timeout=60,
        )
        assert response.status_code == 200, response.text
        data = response.content
    return data


@pytest.fixture(params=["sqlite", "postgresql"])
def worker_node(request: pytest.FixtureRequest, node_process: NodeProcess) -> Iterator[NodeProcess]:
    """A demo node on SQLite or on a PostgreSQL database of its own, initialised, not started
    (for API-only ``serve --no-dispatcher`` and :class:`WorkerProcess` workers)."""
    from tests.conftest import _pg_admin, _with_db

    name = None
    if request.param == "postgresql":
        pg_server: str = request.getfixturevalue("pg_server")
        name = f"f_{uuid.uuid4().hex[:12]}"
        _pg_admin(pg_server, f"CREATE DATABASE {name}")
        node_process.database_url = _with_db(pg_server, name)
    node_process.cli("init", "--demo")
    yield node_process
    node_process.stop()
    if name is not None:
        _pg_admin(request.getfixturevalue("pg_server"), f"DROP DATABASE {name} WITH (FORCE)")


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest) -> Iterator[str | None]:
    """None on SQLite (the node's own file), else a PostgreSQL database of the test's own."""
    if backend == "sqlite":
        yield None
        return
    from tests.conftest import _pg_admin, _with_db

    pg_server: str = request.getfixturevalue("pg_server")
    name = f"w_{uuid.uuid4().hex[:12]}"
    _pg_admin(pg_server, f"CREATE DATABASE {name}")
    yield _with_db(pg_server, name)
    _pg_admin(pg_server, f"DROP DATABASE {name} WITH (FORCE)")


class WorkerProcess:
    """``docex worker`` with its output in a log file of its own."""

    def __init__(self, node: NodeProcess, name: str, **env: str) -> None:
        self.log = node.data_dir.parent / f"worker-{name}.log"
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [DOCEX, "worker"], env=node.env(**env), stdout=out, stderr=out
            )

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                return self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()
        return int(self.proc.returncode)
