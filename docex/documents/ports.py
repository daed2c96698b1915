"""What the documents service needs from the running node, typed structurally.

``docex.node.Node`` (built once by ``create_app``) satisfies this Protocol; the documents package
names only the parts it uses and never imports the node, so that the dependency runs one way:
documents ← routing ← node ← api/cli.
"""

from __future__ import annotations

from typing import Protocol

from docex.config import Settings
from docex.db import Database
from docex.groupcommit import GroupCommitter
from docex.signing.agency_keys import AgencyKeyStore
from docex.signing.keks import KekRing
from docex.signing.service import NodeSignatures
from docex.storage.base import BlobStore


class Node(Protocol):
    """The node as the documents service sees it."""

    @property
    def settings(self) -> Settings: ...
    @property
    def db(self) -> Database: ...
    @property
    def store(self) -> BlobStore: ...
    @property
    def committer(self) -> GroupCommitter: ...
    @property
    def keks(self) -> KekRing: ...
    @property
    def agency_keys(self) -> AgencyKeyStore: ...
    @property
    def signatures(self) -> NodeSignatures: ...
