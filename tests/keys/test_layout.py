"""No module but ``docex/keys/paths.py`` spells where a key lives (that ``docex.signing``
imports no domain package is ``tests/test_layers.py``'s)."""

from __future__ import annotations

import re
from pathlib import Path

import docex

ROOT = Path(docex.__file__).parent
# A key path written out: a key file's name, or a join onto a key directory.
_SPELLED = re.compile(
    r'"node-signing-key\.pem"|/ "kek"|/ "agencies"|/ "pki"|/ PKI_DIR|"chain\.pem"'
    r"|NODE_KEY_FILE|keys_dir /"
)
# The pki package lays out the inside of the PKI directory it owns (another part of the tree).
_OWNERS = {Path("keys/paths.py")}
_OWNER_PACKAGES = {("signing", "pki")}


def test_only_keys_paths_spells_where_keys_live() -> None:
    spelled = {
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in sorted(ROOT.rglob("*.py"))
        if path.relative_to(ROOT) not in _OWNERS
        and path.relative_to(ROOT).parts[:2] not in _OWNER_PACKAGES
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if _SPELLED.search(line)
    }
    assert spelled == set()
