"""docex-client installs on its own (httpx alone, nothing of the server), and the docex
distribution ships it too: a fresh virtualenv, a wheel, and this checkout's editable install."""

from __future__ import annotations

import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

import docex_client

pytestmark = pytest.mark.functional

ROOT = Path(__file__).resolve().parents[2]
PIP_TIMEOUT = 600


def _pip(python: Path, *args: str) -> None:
    result = subprocess.run(
        [str(python), "-m", "pip", "--disable-pip-version-check", *args],
        capture_output=True,
        text=True,
        timeout=PIP_TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_pip_install_client_in_a_fresh_venv_imports_without_the_server(tmp_path: Path) -> None:
    # A copy: building in place would leave build files in the checkout.
    source = shutil.copytree(ROOT / "client", tmp_path / "client")
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    _pip(python, "install", "--quiet", str(source))
    probe = (
        "import importlib.util as u, docex_client as c\n"
        "print(c.__version__, c.DocexClient.__name__, c.AsyncDocexClient.__name__)\n"
        "print([m for m in ('fastapi', 'sqlalchemy', 'pydantic', 'docex') if u.find_spec(m)])\n"
    )
    result = subprocess.run(  # not from the checkout: `python -c` imports from its folder
        [str(python), "-c", probe],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"{docex_client.__version__} DocexClient AsyncDocexClient",
        "[]",
    ]


def test_the_docex_wheel_carries_both_packages(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, tree / name)
    for name in ("docex", "client"):
        shutil.copytree(ROOT / name, tree / name, ignore=shutil.ignore_patterns("__pycache__"))
    _pip(Path(sys.executable), "wheel", "--quiet", "--no-deps", "-w", str(tmp_path), str(tree))
    (wheel,) = tmp_path.glob("docex-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"docex_client/__init__.py", "docex_client/py.typed", "docex/cli/main.py"} <= names
    assert "docex/signing/fonts/DejaVuSans-vi.ttf" in names
    assert not any(n.startswith(("client/", "tests/")) for n in names)


def test_this_checkout_imports_the_client_from_its_client_folder() -> None:
    assert Path(docex_client.__file__).resolve().parent == ROOT / "client" / "docex_client"
