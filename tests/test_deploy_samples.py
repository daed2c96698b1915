"""The deployment samples hold together: systemd accepts the units, and Compose starts docex
only once the database and the object storage are ready."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml  # type: ignore[import-untyped]  # PyYAML, via certomancer and schemathesis; no stubs

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
    from docex.config import Settings

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
