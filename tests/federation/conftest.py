"""A hub served for real over HTTP (uvicorn in a thread), and a CliRunner whose environment
names nothing of the developer's: the CLI tests' own fixtures."""

from tests.cli.conftest import runner, served

__all__ = ["runner", "served"]
