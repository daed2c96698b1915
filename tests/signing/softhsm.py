"""A real SoftHSM2 token for tests: Debian's ``softhsm2`` (``libsofthsm2.so`` and
``softhsm2-util``), installed by ``deploy/test-packages.sh`` as README's test command says.

``SoftHsm(root)`` writes a configuration keeping the tokens under ``root`` and points
``SOFTHSM2_CONF`` at it, for this process and every process it starts; then it initialises
its tokens. SoftHSM2 reads its token list once per process (at ``C_Initialize``), so every
token a test session uses is created here, up front, and ``empty(label)`` destroys every object
on a token between tests instead of re-creating it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pkcs11
from pkcs11 import ObjectClass
from pkcs11.exceptions import UserAlreadyLoggedIn

_MODULE_PLACES = (
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
)
INSTALL_HINT = "SoftHSM2 is missing: run `sh deploy/test-packages.sh` (README's test command does)"


def softhsm_module() -> Path:
    for place in _MODULE_PLACES:
        if Path(place).exists():
            return Path(place)
    raise FileNotFoundError(INSTALL_HINT)


@dataclass(frozen=True)
class Token:
    module: Path
    label: str
    pin: str

    def env(self) -> dict[str, str]:
        """The settings that put a node's keys on this token."""
        return {
            "DOCEX_SIGNING__KEY_STORE": "pkcs11",
            "DOCEX_SIGNING__PKCS11_MODULE": str(self.module),
            "DOCEX_SIGNING__PKCS11_TOKEN": self.label,
            "DOCEX_SIGNING__PKCS11_PIN": self.pin,
        }


class SoftHsm:
    def __init__(self, root: Path, labels: tuple[str, ...]) -> None:
        if shutil.which("softhsm2-util") is None:
            raise FileNotFoundError(INSTALL_HINT)
        self.module = softhsm_module()
        tokens = root / "tokens"
        tokens.mkdir(parents=True)
        conf = root / "softhsm2.conf"
        conf.write_text(
            f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n"
        )
        os.environ["SOFTHSM2_CONF"] = str(conf)
        self.tokens: dict[str, Token] = {}
        for label in labels:
            token = Token(self.module, label, secrets.token_hex(4))
            subprocess.run(
                [
                    "softhsm2-util",
                    "--init-token",
                    "--free",
                    "--label",
                    label,
                    "--so-pin",
                    secrets.token_hex(4),
                    "--pin",
                    token.pin,
                ],
                check=True,
                capture_output=True,
                timeout=30,
            )
            self.tokens[label] = token

    def empty(self, label: str) -> None:
        """Destroy every object on the token (keys and certificates)."""
        token = self.tokens[label]
        found = pkcs11.lib(str(self.module)).get_token(token_label=label)
        try:
            session = found.open(rw=True, user_pin=token.pin)
        except UserAlreadyLoggedIn:  # a store of this process is logged in: share its login
            session = found.open(rw=True)
        with session:
            for object_class in (
                ObjectClass.CERTIFICATE,
                ObjectClass.PRIVATE_KEY,
                ObjectClass.PUBLIC_KEY,
            ):
                for obj in list(session.get_objects({pkcs11.Attribute.CLASS: object_class})):
                    with contextlib.suppress(pkcs11.exceptions.PKCS11Error):
                        obj.destroy()
