"""docex.kit.files: whole files or nothing, mode 0600 from the start, keys never replaced."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from docex.kit.files import atomic_write, create_exclusively


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_atomic_write_replaces_the_content_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "index.json"
    atomic_write(target, b"old")
    atomic_write(target, b"new")
    assert target.read_bytes() == b"new"
    assert _mode(target) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["index.json"]


def test_create_exclusively_never_replaces(tmp_path: Path) -> None:
    target = tmp_path / "kek-1.key"
    create_exclusively(target, b"first", 0o600)
    with pytest.raises(FileExistsError):
        create_exclusively(target, b"second")
    assert target.read_bytes() == b"first"
    assert _mode(target) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["kek-1.key"]


def test_a_failed_write_leaves_nothing_behind(tmp_path: Path) -> None:
    with pytest.raises(TypeError):
        atomic_write(tmp_path / "x", "not bytes")  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []
