"""The kinds of transfer this node sends and accepts: kind name -> :class:`Kind`.

One registry per node (``Node.kinds``, built in ``docex.app.build_node``), given to both the
``transfer`` transport (sending: ``parts``, ``sent``, ``failed``) and the
``POST /federation/v1/transfers`` endpoint (receiving: ``prepare``, ``commit``). A transfer of
a kind this node has not registered waits in the queue (sending) or is refused with 400
``federation_unknown_kind`` (receiving). Register once, before the node serves::

    node.kinds.register(DocumentKind(...))
"""

from __future__ import annotations

import threading

from docex.federation.kinds import Kind


class KindRegistry:
    def __init__(self) -> None:
        self._kinds: dict[str, Kind] = {}
        self._lock = threading.Lock()

    def register(self, kind: Kind) -> None:
        """Adds ``kind`` under ``kind.kind``; a name registered twice is a wiring mistake."""
        with self._lock:
            if kind.kind in self._kinds:
                raise ValueError(f"a transfer kind {kind.kind!r} is registered already")
            self._kinds = {**self._kinds, kind.kind: kind}

    def get(self, name: str) -> Kind | None:
        return self._kinds.get(name)

    def names(self) -> list[str]:
        return sorted(self._kinds)

    def __contains__(self, name: object) -> bool:
        return name in self._kinds
