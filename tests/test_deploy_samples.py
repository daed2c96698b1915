"""The deployment samples hold together: systemd accepts the units, Compose starts docex only
once the database and the object storage are ready, every YAML sample parses and every DOCEX_
variable in the samples is a real setting (and their values are ones docex accepts), the
network's compose runs three nodes each on its own stores over mutual TLS, and the Kubernetes
manifests run N API replicas and separate workers with probes and secrets from Secrets."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]  # PyYAML, via certomancer and schemathesis; no stubs
from cryptography import x509
from pydantic import BaseModel

from docex.config import Settings
from tests.functional.conftest import DOCEX

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
UNITS = sorted(DEPLOY.glob("*.service"))


def test_there_are_units_for_the_node_and_its_workers() -> None:
    assert [u.name for u in UNITS] == ["docex-worker@.service", "docex.service"]


@pytest.mark.parametrize("unit", UNITS, ids=[u.name for u in UNITS])
def test_systemd_accepts_the_unit_as_written(unit: Path, tmp_path: Path) -> None:
    systemd_analyze = shutil.which("systemd-analyze")
    assert systemd_analyze is not None
    # The unit's docex is /opt/docex/.venv/bin/docex; verify checks that the binary exists.
    text = unit.read_text()
    assert "ExecStart=/opt/docex/.venv/bin/docex " in text
    name = unit.name.replace("@.", "@1.")  # an instance of a template
    (tmp_path / name).write_text(text.replace("/opt/docex/.venv/bin/docex", DOCEX))
    result = subprocess.run(
        [systemd_analyze, "verify", str(tmp_path / name)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    complaints = [
        line
        for line in (result.stdout + result.stderr).splitlines()
        if name in line or "Unknown" in line or "Failed" in line
    ]
    assert (result.returncode, complaints) == (0, [])


def test_the_unit_waits_longer_than_the_shutdown_grace_period() -> None:
    text = (DEPLOY / "docex.service").read_text()
    [stop] = [line for line in text.splitlines() if line.startswith("TimeoutStopSec=")]
    assert int(stop.removeprefix("TimeoutStopSec=")) > Settings().shutdown_grace_seconds + 5


def test_compose_migrates_once_postgres_and_the_bucket_are_ready() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    migrate = services["migrate"]["depends_on"]
    assert migrate == {
        "postgres": {"condition": "service_healthy"},
        "minio": {"condition": "service_healthy"},
        "minio-init": {"condition": "service_completed_successfully"},
    }
    for name in ("api", "worker"):
        assert services[name]["depends_on"]["migrate"] == {
            "condition": "service_completed_successfully"
        }
        assert services[name]["stop_grace_period"] == "45s"


# -- every sample: parses, and sets only real settings ---------------------------------------

YAML_FILES = sorted([*DEPLOY.rglob("*.yaml"), *DEPLOY.rglob("*.yml")])
ENV_FILES = sorted(DEPLOY.rglob(".env.example"))
_DOCEX_NAME = re.compile(r"\bDOCEX_[A-Z0-9_]+")
# What the CLI reads from the environment beside the settings (docex.cli.connection).
CLI_VARIABLES = {"DOCEX_URL", "DOCEX_TOKEN", "DOCEX_WITNESS_WEBHOOK"}


def is_setting(variable: str) -> bool:
    """``DOCEX_A__B`` names the field ``b`` of the settings group ``a`` of :class:`Settings`."""
    model: type[BaseModel] = Settings
    parts = variable.removeprefix("DOCEX_").lower().split("__")
    for depth, part in enumerate(parts):
        field = model.model_fields.get(part)
        if field is None:
            return False
        annotation = field.annotation
        last = depth == len(parts) - 1
        nested = isinstance(annotation, type) and issubclass(annotation, BaseModel)
        if last:
            return not nested
        if not nested:
            return False
        model = annotation  # type: ignore[assignment]
    return False


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield str(key)
            yield from _strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item)
    elif isinstance(node, str):
        yield node


def _variables(path: Path) -> set[str]:
    if path.suffix in (".yaml", ".yml"):
        text = "\n".join(s for doc in yaml.safe_load_all(path.read_text()) for s in _strings(doc))
    else:
        text = path.read_text()
    return set(_DOCEX_NAME.findall(text))


def test_the_setting_check_can_tell() -> None:
    assert is_setting("DOCEX_NODE_ID")
    assert is_setting("DOCEX_FEDERATION__WITNESS_INTERVAL_SECONDS")
    assert is_setting("DOCEX_TLS__CLIENT_CA_FILE")
    assert not is_setting("DOCEX_TLS")  # a group, not a setting
    assert not is_setting("DOCEX_FEDERATION__WITNES_INTERVAL_SECONDS")
    assert not is_setting("DOCEX_NODE_ID__X")


def test_every_yaml_sample_parses() -> None:
    assert {p.relative_to(DEPLOY).as_posix() for p in YAML_FILES} >= {
        "compose.yaml",
        "network/compose.yaml",
        "kubernetes/kustomization.yaml",
        "kubernetes/api.yaml",
        "kubernetes/worker.yaml",
        "kubernetes/configmap.yaml",
        "kubernetes/secret.example.yaml",
    }
    for path in YAML_FILES:
        documents = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
        assert documents, path
        assert all(isinstance(d, dict) for d in documents), path


@pytest.mark.parametrize(
    "path", [*YAML_FILES, *ENV_FILES, *UNITS], ids=lambda p: str(p.relative_to(DEPLOY))
)
def test_every_docex_variable_in_the_samples_is_a_real_setting(path: Path) -> None:
    unknown = sorted(v for v in _variables(path) - CLI_VARIABLES if not is_setting(v))
    assert unknown == []


def _manifests() -> dict[tuple[str, str], dict[str, Any]]:
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted((DEPLOY / "kubernetes").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and "kind" in doc and "metadata" in doc:
                out[(doc["kind"], doc["metadata"]["name"])] = doc
    return out


def _env_of(values: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    for name in [n for n in os.environ if n.startswith("DOCEX_")]:
        monkeypatch.delenv(name)
    for name, value in values.items():
        monkeypatch.setenv(name, str(value))
    return Settings()


def test_kubernetes_runs_n_api_replicas_and_separate_workers_with_probes_and_secrets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    manifests = _manifests()
    kustomization = yaml.safe_load((DEPLOY / "kubernetes/kustomization.yaml").read_text())
    assert "secret.example.yaml" not in kustomization["resources"]  # real secrets come from you
    for resource in kustomization["resources"]:
        assert (DEPLOY / "kubernetes" / resource).is_file()
    api = manifests[("Deployment", "docex-api")]["spec"]
    worker = manifests[("Deployment", "docex-worker")]["spec"]
    assert api["replicas"] >= 2
    assert worker["replicas"] >= 1
    [serve] = api["template"]["spec"]["containers"]
    [work] = worker["template"]["spec"]["containers"]
    assert serve["args"][0] == "serve"
    assert "--no-dispatcher" in serve["args"]  # the routing worker runs in docex-worker only
    assert work["args"] == ["worker"]
    assert serve["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert serve["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert serve["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert serve["ports"][0]["containerPort"] == 8000
    grace = Settings().shutdown_grace_seconds
    for spec in (api, worker):
        pod = spec["template"]["spec"]
        assert pod["terminationGracePeriodSeconds"] > grace + 5
        assert [c["args"] for c in pod["initContainers"]] == [["init"]]
        refs = {
            ref.get("configMapRef", ref.get("secretRef", {}))["name"]
            for container in [*pod["containers"], *pod["initContainers"]]
            for ref in container["envFrom"]
        }
        assert refs == {"docex-config", "docex-secrets"}
    # Secrets only in Secret objects; together they make settings docex accepts.
    config = manifests[("ConfigMap", "docex-config")]["data"]
    examples = yaml.safe_load_all((DEPLOY / "kubernetes/secret.example.yaml").read_text())
    secrets = {d["metadata"]["name"]: d["stringData"] for d in examples}
    for name in config:
        assert not any(word in name for word in ("PASSPHRASE", "SECRET", "TOKEN", "DATABASE"))
    settings = _env_of({**config, **secrets["docex-secrets"]}, monkeypatch)
    assert settings.storage.resolved_backend == "s3"
    assert settings.database_url is not None
    assert settings.database_url.startswith("postgresql")
    federation = settings.federation
    assert federation.directory_url is not None
    # The files the federation settings name are in mounted Secrets.
    mounted = {m["mountPath"]: m for m in serve["volumeMounts"]}
    for path in (federation.anchor, federation.tls_client_cert, federation.tls_client_key):
        assert path is not None
        assert str(path.parent) in mounted
        assert path.name in secrets["docex-federation"]


def test_the_network_compose_runs_a_hub_and_two_provinces_each_on_its_own_stores(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    compose = yaml.safe_load((DEPLOY / "network/compose.yaml").read_text())
    services = compose["services"]
    nodes: dict[str, Settings] = {}
    databases, volumes = set(), set()
    for node in ("hub", "province-a", "province-b"):
        service = services[node]
        env = {
            k: re.sub(r"\$\{[A-Z0-9_]+(:\?[^}]*)?\}", "x", str(v))
            for k, v in service["environment"].items()
        }
        settings = _env_of(env, monkeypatch)
        assert settings.node_id == node
        assert service["command"][0] == "serve"
        # Its own database (a service of its own) and data volume.
        assert settings.database_url is not None
        host = settings.database_url.split("@", 1)[1].split(":", 1)[0]
        assert host == f"{node}-db"
        assert host in services
        assert service["depends_on"][host] == {"condition": "service_healthy"}
        databases.add(host)
        volumes.add(service["volumes"][0].split(":", 1)[0])
        # Mutual TLS both ways, from the network CA the certs service makes.
        assert settings.tls.cert_file is not None
        assert settings.tls.cert_file.name == f"{node}.pem"
        assert settings.tls.client_cert_required
        assert settings.federation.tls_client_cert == settings.tls.cert_file
        assert service["depends_on"]["certs"] == {"condition": "service_completed_successfully"}
        nodes[node] = settings
    assert len(databases) == 3
    assert len(volumes) == 3
    hub = nodes["hub"]
    assert hub.storage.resolved_backend == "s3"
    assert hub.federation.publisher
    for province in ("province-a", "province-b"):
        settings = nodes[province]
        assert settings.storage.resolved_backend == "filesystem"
        assert settings.federation.directory_url == f"{hub.public_url}/federation/v1/directory"


def test_the_network_certificates_make_a_mutual_tls_pair(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(DEPLOY / "network/make_certs.py"), str(tmp_path), "hub", "province-a"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    before = (tmp_path / "hub.pem").read_bytes()
    rerun = [sys.executable, str(DEPLOY / "network/make_certs.py"), str(tmp_path), "hub"]
    subprocess.run(rerun, check=True, timeout=60)
    assert (tmp_path / "hub.pem").read_bytes() == before  # kept
    assert (tmp_path / "hub.key").stat().st_mode & 0o777 == 0o600
    ca = x509.load_pem_x509_certificate((tmp_path / "ca.pem").read_bytes())
    for node in ("hub", "province-a"):
        cert = x509.load_pem_x509_certificates((tmp_path / f"{node}.pem").read_bytes())[0]
        cert.verify_directly_issued_by(ca)
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert node in names.get_values_for_type(x509.DNSName)
    # The hub serves with its certificate and requires the province's; they agree.
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(tmp_path / "ca.pem"))
    server.load_cert_chain(str(tmp_path / "hub.pem"), str(tmp_path / "hub.key"))
    server.verify_mode = ssl.CERT_REQUIRED
    client = ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))
    client.load_cert_chain(str(tmp_path / "province-a.pem"), str(tmp_path / "province-a.key"))
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    to_server, to_client = ssl.MemoryBIO(), ssl.MemoryBIO()
    server_side = server.wrap_bio(to_server, to_client, server_side=True)
    client_side = client.wrap_bio(incoming, outgoing, server_hostname="hub")
    for _ in range(10):
        for side in (client_side, server_side):
            with contextlib.suppress(ssl.SSLWantReadError):  # its turn comes
                side.do_handshake()
        to_server.write(outgoing.read())
        incoming.write(to_client.read())
    peer = server_side.getpeercert()
    assert peer is not None
    assert ("commonName", "province-a") in [pair for rdn in peer["subject"] for pair in rdn]


def _docex_commands() -> Iterator[tuple[str, list[str]]]:
    network = yaml.safe_load((DEPLOY / "network/compose.yaml").read_text())["services"]
    for name, service in network.items():
        if "build" in service and "command" in service:
            yield f"network/{name}", list(service["command"])
    for (kind, name), doc in _manifests().items():
        if kind == "Deployment":
            pod = doc["spec"]["template"]["spec"]
            for container in [*pod["initContainers"], *pod["containers"]]:
                yield f"kubernetes/{name}/{container['name']}", list(container["args"])


def test_every_docex_command_of_the_samples_exists_with_its_options() -> None:
    from typer.testing import CliRunner

    from docex.cli.main import app

    seen = 0
    for where, args in _docex_commands():
        command = [a for a in args if not a.startswith("-")][:1]
        shown = CliRunner().invoke(app, [*command, "--help"], terminal_width=200)
        assert shown.exit_code == 0, where
        for option in (a for a in args if a.startswith("--")):
            assert option in shown.output, f"{where}: {option}"
        seen += 1
    assert seen >= 7
