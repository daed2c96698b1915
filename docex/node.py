"""The running node: everything ``create_app`` builds once and hands to every request and task."""

from __future__ import annotations

from dataclasses import dataclass, field

from docex.alerts.watch import AlertWatch
from docex.audit.integrator import AuditLog
from docex.audit.refusals import RefusalTally
from docex.auth.oidc import OidcSignIn
from docex.auth.signin import PasswordSignIn
from docex.config import Settings
from docex.db import Database
from docex.federation.registry import KindRegistry
from docex.federation.witnessing import PeerWitnessing
from docex.groupcommit import GroupCommitter
from docex.kit.clock import Clock
from docex.kit.proxies import TrustedProxies
from docex.metrics import Metrics
from docex.routing.deadlines import OverdueSweep
from docex.routing.worker import Worker
from docex.signing.agency_keys import AgencyKeyStore
from docex.signing.jws import NodeSigner
from docex.signing.keks import KekRing
from docex.signing.service import NodeSignatures
from docex.storage.base import BlobStore


@dataclass
class Node:
    settings: Settings
    db: Database
    store: BlobStore
    signer: NodeSigner
    clock: Clock
    metrics: Metrics
    worker: Worker
    overdue: OverdueSweep  # runs wherever the routing worker runs
    committer: GroupCommitter
    keks: KekRing
    agency_keys: AgencyKeyStore
    signatures: NodeSignatures
    audit: AuditLog
    proxies: TrustedProxies
    refusals: RefusalTally
    sign_in: PasswordSignIn
    oidc: OidcSignIn
    background: list[str] = field(default_factory=list)
    # The kinds of federation transfer this node sends and accepts (docex.federation.registry):
    # the same registry the transfer transport and POST /federation/v1/transfers use.
    kinds: KindRegistry = field(default_factory=KindRegistry)
    # Cross-node audit: this node witnessing its peers' logs (a chore of the worker).
    witnessing: PeerWitnessing | None = None
    # Early warning: the rules, evaluated by a chore of the worker (docex.alerts).
    alerts: AlertWatch | None = None
