"""``docex network demo DIR``: a whole network on this machine, in one command.

Three nodes, each a ``docex serve`` process with its own data directory under DIR (SQLite
database, blob store, keys) and its own people (``demo-credentials.json``, for the agencies
it hosts only):

- ``hub`` (the base port): the central agencies (G22, I01, A01); it publishes the directory;
- ``nghean`` (base port + 1): Nghệ An (H41) and its two communes;
- ``hanoi`` (base port + 2): Hà Nội (H26) and two communes of its own (this demo's only).

The hub imports the provinces (``describe`` → ``node add``, as an operator would with the
commands), creates the groups, publishes and signs the directory; the provinces fetch it at
start with the hub's public key as their anchor. Once every node answers ``/readyz`` with that
version, DIR/network.json says where each node is, where its people's credentials are and which
agencies it hosts. SIGINT (Ctrl-C) or SIGTERM stops all three.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import httpx

from docex.agencies.models import Group
from docex.agencies.service import create_group
from docex.bootstrap import CREDENTIALS_FILE, DEMO_AGENCIES, DEMO_GROUPS, DemoAgency, init_node
from docex.config import FederationSettings, Settings
from docex.db import Database
from docex.federation.directory import (
    NodeDescription,
    import_node,
    public_pem,
    publish,
)
from docex.federation.local import describe_self, node_keys
from docex.kit.clock import SystemClock
from docex.kit.files import atomic_write

HUB = "hub"
NETWORK_FILE = "network.json"
ANCHOR_FILE = "hub-anchor.pem"
READY_TIMEOUT_SECONDS = 120.0
FETCH_INTERVAL_SECONDS = 30.0  # a province picks up a version the hub publishes within this
STATS_PUSH_SECONDS = 30.0  # the hub's supervision centre sees a province's figures within this

# Two communes of Hà Nội, for the network demo only (DEMO_AGENCIES is the one-node demo's).
HANOI_COMMUNES: tuple[DemoAgency, ...] = (
    ("001.00.26.H26", "Ủy ban nhân dân xã Sóc Sơn", "state", "000.00.00.H26", "socson"),
    ("002.00.26.H26", "Ủy ban nhân dân xã Ba Vì", "state", "000.00.00.H26", "bavi"),
)
_BY_CODE = {a[0]: a for a in (*DEMO_AGENCIES, *HANOI_COMMUNES)}
GROUPS = {
    **DEMO_GROUPS,
    "hanoi-communes": ("Xã thuộc thành phố Hà Nội", [a[0] for a in HANOI_COMMUNES]),
}


@dataclass(frozen=True)
class DemoNode:
    id: str
    offset: int  # port = base port + offset
    agencies: tuple[str, ...]
    upstream: str | None


NODES = (
    DemoNode(HUB, 0, ("000.00.00.G22", "000.00.00.I01", "000.00.00.A01"), None),
    DemoNode("nghean", 1, ("000.00.00.H41", "001.00.41.H41", "002.00.41.H41"), HUB),
    DemoNode("hanoi", 2, ("000.00.00.H26", *(a[0] for a in HANOI_COMMUNES)), HUB),
)


class NetworkError(Exception):
    """The demo network could not be started (a node did not come up, a port is taken)."""


Extra = Mapping[str, Mapping[str, str]]
"""More ``DOCEX_`` variables for some nodes, by node id (a node on PostgreSQL and S3)."""


def _settings(root: Path, node: DemoNode, base_port: int, extra: Extra | None = None) -> Settings:
    more = dict((extra or {}).get(node.id, {}))
    fields: dict[str, Any] = {
        "data_dir": root / node.id,
        "node_id": node.id,
        "host": "127.0.0.1",
        "port": base_port + node.offset,
        "public_url": None,
        "federation": FederationSettings(publisher=node.upstream is None),
    }
    if "DOCEX_DATABASE_URL" not in more:
        fields["database_url"] = None
    saved = {name: os.environ.get(name) for name in more}
    os.environ.update(more)  # the node's own variables, read as its process will read them
    try:
        return Settings(**fields)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _point_credentials_at(settings: Settings) -> None:
    """A network started again on other ports: its people's file names the node's URL now."""
    path = settings.data_dir / CREDENTIALS_FILE
    data = json.loads(path.read_text(encoding="utf-8"))
    if data.get("base_url") != settings.base_url:
        data["base_url"] = settings.base_url
        atomic_write(path, json.dumps(data, ensure_ascii=False, indent=2).encode(), 0o600)


def prepare(root: Path, base_port: int, extra: Extra | None = None) -> int:
    """Initialise the three nodes, import the provinces on the hub, publish the directory and
    write the hub's public key as the provinces' anchor; the version published."""
    root.mkdir(parents=True, exist_ok=True)
    descriptions: list[NodeDescription] = []
    hub_settings = _settings(root, NODES[0], base_port, extra)
    for node in NODES:
        settings = _settings(root, node, base_port, extra)
        init_node(settings, demo=True, agencies=[_BY_CODE[c] for c in node.agencies], groups={})
        _point_credentials_at(settings)
        if node.upstream is None:
            continue
        db = Database(settings.resolved_database_url)
        try:
            with node_keys(settings) as (_signer, public), db.read() as session:
                descriptions.append(
                    describe_self(session, settings, public, upstream=node.upstream)
                )
        finally:
            db.dispose()
    now = SystemClock().now()
    db = Database(hub_settings.resolved_database_url)
    try:
        with node_keys(hub_settings) as (signer, public), db.write() as session:
            for description in descriptions:
                import_node(session, description, now=now)
            session.flush()
            for name, (title, members) in GROUPS.items():
                if session.get(Group, name) is None:
                    create_group(session, name, members, title=title, description=title, now=now)
            itself = describe_self(session, hub_settings, public)
            version = publish(
                session, signer, itself, network=hub_settings.federation.network, now=now
            ).version
            atomic_write(root / ANCHOR_FILE, public_pem(public).encode(), 0o644)
    finally:
        db.dispose()
    return version


def node_env(
    root: Path, node: DemoNode, base_port: int, extra: Extra | None = None
) -> dict[str, str]:
    """The environment ``docex serve`` of ``node`` runs with."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCEX_")}
    env.update(
        DOCEX_DATA_DIR=str(root / node.id),
        DOCEX_NODE_ID=node.id,
        DOCEX_HOST="127.0.0.1",
        DOCEX_PORT=str(base_port + node.offset),
    )
    if node.upstream is None:
        env["DOCEX_FEDERATION__PUBLISHER"] = "true"
    else:
        env.update(
            DOCEX_FEDERATION__DIRECTORY_URL=f"{_url(NODES[0], base_port)}/federation/v1/directory",
            DOCEX_FEDERATION__ANCHOR=str(root / ANCHOR_FILE),
            DOCEX_FEDERATION__FETCH_INTERVAL_SECONDS=str(FETCH_INTERVAL_SECONDS),
            DOCEX_STATS__PUSH_INTERVAL_SECONDS=str(STATS_PUSH_SECONDS),
        )
    env.update((extra or {}).get(node.id, {}))
    return env


def _url(node: DemoNode, base_port: int) -> str:
    return f"http://127.0.0.1:{base_port + node.offset}"


_MAIN = "from docex.cli.main import app; app()"  # where no ``docex`` script is installed


class _Processes:
    def __init__(self) -> None:
        self.running: list[tuple[DemoNode, subprocess.Popen[bytes]]] = []

    def start(self, root: Path, node: DemoNode, base_port: int) -> subprocess.Popen[bytes]:
        docex = Path(sys.executable).with_name("docex")
        command = [str(docex)] if docex.exists() else [sys.executable, "-c", _MAIN]
        command.append("serve")
        with (root / f"{node.id}.log").open("ab") as log:
            # A session of its own: Ctrl-C reaches this process, which stops the nodes in order.
            proc = subprocess.Popen(  # noqa: S603 (argv: this docex, fixed arguments)
                command,
                env=node_env(root, node, base_port),
                stdout=log,
                stderr=log,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.running.append((node, proc))
        return proc

    def exited(self) -> list[str]:
        return [node.id for node, proc in self.running if proc.poll() is not None]

    def stop(self) -> None:
        for _node, proc in self.running:
            if proc.poll() is None:
                proc.terminate()  # drains, then stops: the worker gives its leases back
        deadline = time.monotonic() + 30
        for _node, proc in self.running:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


class _Interrupted(Exception):
    pass


def _wait_ready(
    root: Path,
    node: DemoNode,
    base_port: int,
    proc: subprocess.Popen[bytes],
    version: int,
    stop: threading.Event,
) -> None:
    """Until ``node`` answers /readyz with the directory ``version`` (or a signal came)."""
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    url = f"{_url(node, base_port)}/readyz"
    seen = "no answer"
    while time.monotonic() < deadline:
        if stop.is_set():
            raise _Interrupted
        if proc.poll() is not None:
            raise NetworkError(f"node {node.id} exited; see {root / (node.id + '.log')}")
        try:
            answer = httpx.get(url, timeout=2)
            body = answer.json()
            found = (body.get("directory") or {}).get("version")
            if answer.status_code == 200 and found == version:
                return
            seen = f"{answer.status_code}, directory version {found}"
        except (httpx.HTTPError, ValueError) as exc:
            seen = type(exc).__name__
        stop.wait(0.2)
    raise NetworkError(f"node {node.id} not ready with directory version {version} ({seen})")


def network_file(root: Path, base_port: int) -> dict[str, Any]:
    return {
        "nodes": {
            node.id: {
                "base_url": _url(node, base_port),
                "credentials": str((root / node.id / CREDENTIALS_FILE).resolve()),
                "agencies": list(node.agencies),
            }
            for node in NODES
        }
    }


def run_demo(
    root: Path,
    *,
    base_port: int,
    say: Callable[[str], object],
    stop: threading.Event | None = None,
    signals: Sequence[signal.Signals] = (signal.SIGINT, signal.SIGTERM),
) -> None:
    """Prepare, start the three nodes, wait until they share the directory, write
    ``network.json``, then run until a signal (or ``stop``); every node is stopped on the way
    out, whatever happened."""
    root = root.resolve()
    stop = stop or threading.Event()
    say(f"preparing the hub and two provinces in {root} ...")
    version = prepare(root, base_port)
    (root / NETWORK_FILE).unlink(missing_ok=True)
    previous = {}

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    if threading.current_thread() is threading.main_thread():
        previous = {s: signal.signal(s, _stop) for s in signals}
    processes = _Processes()
    try:
        hub = processes.start(root, NODES[0], base_port)
        _wait_ready(root, NODES[0], base_port, hub, version, stop)
        started = [(node, processes.start(root, node, base_port)) for node in NODES[1:]]
        for node, proc in started:
            _wait_ready(root, node, base_port, proc, version, stop)
        data = network_file(root, base_port)
        atomic_write(
            root / NETWORK_FILE, json.dumps(data, ensure_ascii=False, indent=2).encode(), 0o644
        )
        for node in NODES:
            say(
                f"{node.id:7} {_url(node, base_port)}  {', '.join(node.agencies)}  "
                f"(people: {root / node.id / CREDENTIALS_FILE}; log: {root / (node.id + '.log')})"
            )
        say(f"directory version {version} on every node; {root / NETWORK_FILE}; Ctrl-C stops")
        while not stop.wait(0.5):
            if gone := processes.exited():
                raise NetworkError(f"node {', '.join(gone)} exited; see its log in {root}")
    except _Interrupted:
        pass
    finally:
        processes.stop()
        for s, handler in previous.items():
            signal.signal(s, handler)
    say("stopped")
