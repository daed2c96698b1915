"""Keys at rest: ``docex init`` says loudly when a real node's keys will lie unencrypted."""

from __future__ import annotations

import json
from pathlib import Path

from tests.functional.conftest import NodeProcess

WARNING = "DOCEX_SIGNING__KEY_PASSPHRASE is not set"


def test_init_without_a_passphrase_warns_that_the_keys_are_unencrypted(tmp_path: Path) -> None:
    node = NodeProcess(tmp_path / "node")
    result = node.cli("init")
    assert WARNING in " ".join(result.stderr.split()), result.stderr
    assert "UNENCRYPTED" in result.stderr
    again = node.cli("init", "--json")  # idempotent, and says it every time
    assert WARNING in " ".join(again.stderr.split())
    assert json.loads(again.stdout)["keys_encrypted"] is False


def test_init_with_a_passphrase_does_not_warn(tmp_path: Path) -> None:
    node = NodeProcess(tmp_path / "node")
    result = node.cli("init", "--json", DOCEX_SIGNING__KEY_PASSPHRASE="correct horse battery")
    assert "WARNING" not in result.stderr, result.stderr
    assert json.loads(result.stdout)["keys_encrypted"] is True


def test_the_demo_node_does_not_warn(tmp_path: Path) -> None:
    node = NodeProcess(tmp_path / "node")
    result = node.cli("init", "--demo")
    assert "WARNING" not in result.stderr, result.stderr
