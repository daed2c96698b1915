"""The web UI's words: Vietnamese by default, English on request; every text through a Babel
catalogue.

Messages are written in English in the templates (``{{ _("Inbox") }}``, ``{% trans %}``) and
in Python (``gettext_noop``); ``locale/vi/LC_MESSAGES/*.po`` translate them (one catalogue per
screen, merged at start). English shows the message ids themselves. A test checks that every
message the templates and ``docex/web`` use has a Vietnamese translation.

The locale is the ``docex-lang`` cookie (``vi`` or ``en``), set by the language switch;
without it, ``DOCEX_WEB__DEFAULT_LOCALE``.
"""

from __future__ import annotations

import gettext as _gettext
import io
from functools import cache
from pathlib import Path
from typing import Final

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

LOCALES: Final = ("vi", "en")
LOCALE_COOKIE: Final = "docex-lang"
LOCALE_DIR: Final = Path(__file__).parent / "locale"


def gettext_noop(message: str) -> str:
    """Marks ``message`` for the catalogue where it is defined; translated where shown."""
    return message


@cache
def translations(locale: str) -> _gettext.NullTranslations:
    """The merged catalogues of ``locale`` (English: none, the message ids)."""
    if locale == "en":
        return _gettext.NullTranslations()
    merged: Translations | None = None
    for po in sorted((LOCALE_DIR / locale / "LC_MESSAGES").glob("*.po")):
        with po.open("rb") as source:
            catalog = read_po(source, locale=locale)
        buffer = io.BytesIO()
        write_mo(buffer, catalog)
        buffer.seek(0)
        one = Translations(buffer, domain="messages")
        merged = one if merged is None else merged.merge(one)
    return merged or _gettext.NullTranslations()


def pick(cookie: str | None, default: str) -> str:
    return cookie if cookie in LOCALES else default
