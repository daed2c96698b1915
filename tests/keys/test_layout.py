"""The keys package keeps its promises about the code itself: ``docex.signing`` imports no
domain package (``docex.keys`` imports it, never the reverse), and no module but
``docex/keys/paths.py`` spells where a key lives."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import docex

ROOT = Path(docex.__file__).parent
# What docex.signing may import of docex: itself, and what lies below every domain.
BELOW_THE_DOMAINS = ("docex.signing", "docex.kit", "docex.errors", "docex.config")


def _docex_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return {name for name in found if name == "docex" or name.startswith("docex.")}


def test_signing_imports_no_domain_package() -> None:
    modules = sorted((ROOT / "signing").rglob("*.py"))
    assert modules
    reaching_out = {
        f"{path.relative_to(ROOT)} imports {name}"
        for path in modules
        for name in _docex_imports(path)
        if not name.startswith(BELOW_THE_DOMAINS)
    }
    assert reaching_out == set()


# A key path written out: a key file's name, or a join onto a key directory.
_SPELLED = re.compile(
    r'"node-signing-key\.pem"|/ "kek"|/ "agencies"|/ "pki"|/ PKI_DIR|"chain\.pem"'
    r"|NODE_KEY_FILE|keys_dir /"
)
# pki.py lays out the inside of the PKI directory it owns (another part of the tree).
_OWNERS = {Path("keys/paths.py"), Path("signing/pki.py")}


def test_only_keys_paths_spells_where_keys_live() -> None:
    spelled = {
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in sorted(ROOT.rglob("*.py"))
        if path.relative_to(ROOT) not in _OWNERS
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if _SPELLED.search(line)
    }
    assert spelled == set()
