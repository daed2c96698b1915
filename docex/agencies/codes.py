"""Agency codes (mã định danh, Decisions 20/2020 and 09/2025): ASCII only, dotted numeric parts,
most specific first, ending in a letter group and two digits — ``000.00.00.G22``,
``002.00.20.H13``, and the short forms found in real traffic such as ``28.22.H17``.

A look-alike code (Cyrillic ``Н`` for Latin ``H``, full-width digits) is rejected here, before it
can reach a query, so it can never match a real agency.
"""

from __future__ import annotations

import re

from docex.errors import Unprocessable
from docex.kit.ids import is_node_id

_CODE = re.compile(r"(?:[0-9]{2,3}\.){1,3}[A-Z]{1,2}[0-9]{2}", re.ASCII)
_GROUP = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}", re.ASCII)
GROUP_PREFIX = "group:"


def is_valid_code(code: str) -> bool:
    return code.isascii() and _CODE.fullmatch(code) is not None


def check_code(code: str) -> str:
    if not is_valid_code(code):
        raise Unprocessable(
            f"{_shown(code)} is not an agency code (ASCII, like 000.00.00.G22)",
            code="invalid_agency_code",
        )
    return code


def check_node_id(node_id: str) -> str:
    if not is_node_id(node_id):
        raise Unprocessable(
            f"{_shown(node_id)} is not a node id: lowercase letters, digits, '.' and '-', "
            "1 to 64 characters, starting and ending with a letter or digit",
            code="invalid_node_id",
        )
    return node_id


def _shown(value: str) -> str:
    """The value as a refusal may quote it: escaped, and short."""
    return repr(value[:40]) + ("…" if len(value) > 40 else "")


def check_group_name(name: str) -> str:
    if not (name.isascii() and _GROUP.fullmatch(name)):
        raise Unprocessable(f"{name!r} is not a group name", code="invalid_group_name")
    return name
