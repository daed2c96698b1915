"""What the web UI says, read off its templates and code (``python -m docex.web.catalogue``
lists the messages the Vietnamese catalogues lack, as .po entries to fill in)."""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from docex.web.i18n import LOCALE_DIR, translations

WEB_DIR = Path(__file__).parent
METHODS = [("templates/**.html", "jinja2.ext:babel_extract"), ("**.py", "python")]
OPTIONS = {"templates/**.html": {"extensions": "jinja2.ext.i18n", "trimmed": "true"}}
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None, "gettext_noop": None}


def messages() -> dict[str, list[str]]:
    """Every message id, with where it is used (``file:line``)."""
    found: dict[str, list[str]] = {}
    for filename, line, message, _comments, _context in extract_from_dir(
        WEB_DIR, METHODS, OPTIONS, keywords=KEYWORDS
    ):
        ids = message if isinstance(message, tuple) else (message,)
        for one in ids:
            if one:
                found.setdefault(one, []).append(f"{filename}:{line}")
    return found


def missing(locale: str = "vi") -> dict[str, list[str]]:
    catalogue = translations(locale)
    return {
        message: where
        for message, where in messages().items()
        if catalogue.gettext(message) == message
    }


def conflicts(locale: str = "vi") -> dict[str, dict[str, str]]:
    """Messages two catalogues translate differently (one would win at random): by message,
    each catalogue's translation."""
    seen: dict[str, dict[str, str]] = {}
    for po in sorted((LOCALE_DIR / locale / "LC_MESSAGES").glob("*.po")):
        with po.open("rb") as source:
            for message in read_po(source, locale=locale):
                if message.id and isinstance(message.id, str):
                    seen.setdefault(message.id, {})[po.name] = str(message.string)
    return {m: by for m, by in seen.items() if len(set(by.values())) > 1}


def po_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def main() -> int:
    lacking = missing()
    for message, where in sorted(lacking.items()):
        print(f"#: {' '.join(where)}")
        print(f"msgid {po_string(message)}")
        print('msgstr ""')
        print()
    return 1 if lacking else 0


if __name__ == "__main__":
    sys.exit(main())
