"""Where the remote commands connect and with which token; the login file."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from docex.cli.common import ConfigError, UsageError
from docex.cli.connection import (
    DEFAULT_URL,
    ConnectionOptions,
    Login,
    forget_login,
    load_login,
    login_file,
    resolve_target,
    save_login,
)

FAR = "2999-01-01T00:00:00+00:00"


@pytest.fixture(autouse=True)
def config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.chdir(tmp_path)
    return tmp_path / "config"


def test_the_login_file_is_the_owners_alone(config_home: Path) -> None:
    path = save_login(Login("http://node.test", "vanthu", "secret-token", FAR))
    assert path == config_home / "docex" / "login.json" == login_file()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    path.chmod(0o644)
    save_login(Login("http://node.test", "vanthu", "newer", FAR))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_login() == Login("http://node.test", "vanthu", "newer", FAR)
    assert forget_login() is True
    assert load_login() is None


def test_a_relative_xdg_config_home_is_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", "relative/dir")
    assert login_file() == Path.home() / ".config" / "docex" / "login.json"


def test_the_stored_login_is_used_for_its_node_and_never_sent_to_another() -> None:
    save_login(Login("http://node.test", "vanthu", "secret-token", FAR))
    assert resolve_target(ConnectionOptions()).token == "secret-token"
    target = resolve_target(ConnectionOptions(url="http://node.test/"))
    assert (target.url, target.token) == ("http://node.test", "secret-token")
    with pytest.raises(UsageError):
        resolve_target(ConnectionOptions(url="http://elsewhere.test"))
    explicit = resolve_target(ConnectionOptions(url="http://elsewhere.test", token="t2"))
    assert (explicit.url, explicit.token) == ("http://elsewhere.test", "t2")


def test_an_expired_or_unreadable_login_says_so() -> None:
    save_login(Login("http://node.test", "vanthu", "old", "2000-01-01T00:00:00+00:00"))
    with pytest.raises(ConfigError, match="expired"):
        resolve_target(ConnectionOptions())
    login_file().write_text("[")
    with pytest.raises(ConfigError, match="cannot read your login"):
        resolve_target(ConnectionOptions())


def test_as_finds_the_demo_credentials_through_the_data_directory(tmp_path: Path) -> None:
    data = tmp_path / "elsewhere" / "node-data"
    data.mkdir(parents=True)
    (data / "demo-credentials.json").write_text(
        json.dumps(
            {
                "base_url": "http://127.0.0.1:9999",
                "auditor": {"token": "audit-token"},
                "agencies": {"000.00.00.H41": {"clerk": {"token": "clerk-token"}}},
            }
        )
    )
    clerk = resolve_target(ConnectionOptions(as_="000.00.00.H41/clerk", data_dir=data))
    assert (clerk.url, clerk.token) == ("http://127.0.0.1:9999", "clerk-token")
    auditor = resolve_target(
        ConnectionOptions(as_="auditor", credentials=data / "demo-credentials.json", url="http://x")
    )
    assert (auditor.url, auditor.token) == ("http://x", "audit-token")
    with pytest.raises(UsageError, match=r"not in .*node-data/demo-credentials\.json"):
        resolve_target(ConnectionOptions(as_="000.00.00.G22/clerk", data_dir=data))
    with pytest.raises(UsageError, match="clerk, leader or system"):
        resolve_target(ConnectionOptions(as_="000.00.00.H41/boss", data_dir=data))


def test_the_default_url_and_a_url_that_is_not_http() -> None:
    assert resolve_target(ConnectionOptions(token="t")).url == DEFAULT_URL
    with pytest.raises(ConfigError, match="not an http"):
        resolve_target(ConnectionOptions(token="t", url="ftp://node.test"))
