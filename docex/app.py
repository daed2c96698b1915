"""``create_app(settings)``: builds the node once (database, blob store, signer, routing worker) and
the FastAPI application around it. Two calls with two settings give two independent nodes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import time, timedelta

import anyio.to_thread
from fastapi import APIRouter, FastAPI
from starlette.types import ASGIApp

from docex import __version__, web
from docex.alerts.transport import AlertMailTransport, AlertWebhookTransport
from docex.alerts.watch import AlertWatch
from docex.api import errors, openapi
from docex.api.agencies import router as agencies_router
from docex.api.alerts import router as alerts_router
from docex.api.audit import router as audit_router
from docex.api.auth import router as auth_router
from docex.api.deadlines import router as deadlines_router
from docex.api.deliveries import router as deliveries_router
from docex.api.deliveries import sender_router as resend_router
from docex.api.directory import router as directory_router
from docex.api.documents import router as documents_router
from docex.api.edxml import router as edxml_router
from docex.api.federation import router as federation_router
from docex.api.headers import SecurityHeaders, docs_router
from docex.api.limits import RequestLimits
from docex.api.middleware import MetricsMiddleware, RequestContext
from docex.api.ops import router as ops_router
from docex.api.pdf import router as pdf_router
from docex.api.pki import router as pki_router
from docex.api.receipts import router as receipts_router
from docex.api.reports import router as reports_router
from docex.api.shutdown import Draining, Shutdown
from docex.api.stats import router as stats_router
from docex.api.webhooks import router as webhooks_router
from docex.api.witnessing import router as witnessing_router
from docex.audit.integrator import AuditLog
from docex.audit.notes import Cosigner, EcdsaSigner
from docex.audit.refusals import RefusalTally
from docex.audit.signing import DatabaseSigningAudit
from docex.auth.oidc import OidcSignIn
from docex.auth.signin import PasswordSignIn, ThrottlePolicy
from docex.config import Settings
from docex.db import Database
from docex.documents.orphans import sweep_orphans
from docex.documents.upload import sweep_spool
from docex.federation.directory import DirectoryFetcher
from docex.federation.documents import DocumentKind
from docex.federation.registry import KindRegistry
from docex.federation.statuses import StatusKind
from docex.federation.transport import TransferTransport
from docex.federation.witnessing import WITNESS_NAME, PeerWitnessing, peer_transports
from docex.groupcommit import GroupCommitter
from docex.keys import inventory
from docex.keys.node import (
    agency_key_store,
    kek_ring,
    node_key,
    node_signer,
    open_token,
    witness_key,
)
from docex.keys.paths import KeyPaths
from docex.kit.clock import Clock, SystemClock
from docex.kit.loops import Loop
from docex.kit.proxies import TrustedProxies
from docex.metrics import Metrics
from docex.node import Node
from docex.queue.jobs import RetryPolicy
from docex.reports.service import REPORT_CHECK_SECONDS, DailyReportJob
from docex.routing.deadlines import OverdueSweep
from docex.routing.deliveries import DeliveryTransport, record_failure
from docex.routing.receipts import RemoteReceipts
from docex.routing.webhooks.transport import WebhookTransport
from docex.routing.worker import Worker
from docex.signing.jws import ecdsa_key
from docex.signing.sandbox import ValidatorPool
from docex.signing.service import ValidationLimits
from docex.signing.wiring import build_signatures
from docex.stats.collection import StatsKind, StatsPush
from docex.storage.base import BlobStore
from docex.storage.filesystem import FilesystemBlobStore


def build_store(settings: Settings) -> BlobStore:
    storage = settings.storage
    backend = storage.resolved_backend
    if backend == "filesystem":
        return FilesystemBlobStore(settings.blob_dir)
    if backend == "s3":
        from docex.storage.s3 import S3BlobStore

        missing = [
            f"DOCEX_STORAGE__{name.upper()}"
            for name in ("s3_endpoint", "s3_access_key", "s3_secret_key")
            if not getattr(storage, name)
        ]
        if missing or not (storage.s3_endpoint and storage.s3_access_key and storage.s3_secret_key):
            raise ValueError(f"storage backend 's3' needs {', '.join(missing)}")
        return S3BlobStore(
            storage.s3_endpoint,
            storage.s3_bucket,
            access_key=storage.s3_access_key.get_secret_value(),
            secret_key=storage.s3_secret_key.get_secret_value(),
            secure=storage.s3_secure,
            region=storage.s3_region,
        )
    raise ValueError(f"unknown storage backend {backend!r}")


def build_node(
    settings: Settings, *, clock: Clock | None = None, validators: ValidatorPool | None = None
) -> Node:
    clock = clock or SystemClock()
    settings.spool_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    sweep_spool(settings.spool_dir)  # what a killed process left; live requests' are locked
    db = Database(settings.resolved_database_url)
    secret = settings.passphrase
    token = open_token(settings)
    key = node_key(settings, token)  # loaded once: receipts and the audit log sign with it
    signer = node_signer(settings, key)
    metrics = Metrics()
    metrics.watch_queue(db, clock)
    metrics.watch_directory(db, clock, settings.federation.max_age_seconds)
    store = build_store(settings)
    committer = GroupCommitter(db, before_commit=store.barrier)
    grace = timedelta(seconds=settings.dispatcher.orphan_grace_seconds)
    sign_in = PasswordSignIn(
        db,
        clock,
        ThrottlePolicy.from_settings(settings.auth),
        on_lock=lambda scope: metrics.sign_in_locks.labels(scope).inc(),
        passwords=settings.auth.passwords,
    )

    def housekeeping() -> None:
        sweep_orphans(db, committer, store, now=clock.now(), grace=grace)
        sign_in.purge()

    routing = settings.dispatcher
    keks = kek_ring(settings)
    agency_keys = agency_key_store(settings)
    # What travels between nodes (docs/federation.md): documents, and statuses going back.
    kinds = KindRegistry()
    detour = settings.federation.detour_after_attempts
    kinds.register(
        DocumentKind(db, store, keks, agency_keys, signer, fail=record_failure, detour_after=detour)
    )
    kinds.register(
        StatusKind(
            db,
            node_id=settings.node_id,
            record=RemoteReceipts(settings.deadlines),
            fail=record_failure,
            detour_after=detour,
        )
    )
    kinds.register(StatsKind(db, node_id=settings.node_id))
    witnessing = PeerWitnessing(
        db,
        Cosigner(WITNESS_NAME.format(node=settings.node_id), witness_key(settings)),
        node_id=settings.node_id,
        clock=clock,
        connect=peer_transports(settings.federation),
    )
    metrics.watch_witnessing(db, clock)
    every = settings.federation.witness_interval_seconds
    chores = [Loop("docex-witness", witnessing.step, interval=every)] if every > 0 else []
    if settings.stats.push_interval_seconds > 0:
        pusher = StatsPush(db, signer, clock)
        chores.append(
            Loop("docex-stats", pusher.step, interval=settings.stats.push_interval_seconds)
        )
    if settings.federation.directory_url is not None:
        # A failed fetch keeps the last good directory; the next pass tries again.
        fetcher = DirectoryFetcher(db, settings.federation, clock=clock)
        interval = settings.federation.fetch_interval_seconds
        chores.append(Loop("docex-directory", fetcher.step, interval=interval))
    alerting = settings.alerts
    alert_sends = [
        AlertWebhookTransport(db, alerting, clock=clock, node_id=settings.node_id),
        AlertMailTransport(db, alerting, clock=clock, node_id=settings.node_id),
    ]
    watch = AlertWatch(
        db,
        alerting,
        clock=clock,
        node_id=settings.node_id,
        # The one 30-day rule, over the certificates the keys console lists.
        certificates=lambda now: inventory.certificates(
            signatures.pki, KeyPaths.of(settings).node_certificate, now
        ),
    )
    chores.append(watch.loop())
    if settings.reports.daily_at != "off":
        # A failed pass writes nothing (the report's file is its claim); the next one tries again.
        daily = DailyReportJob(
            db,
            clock,
            directory=settings.reports_dir,
            at=time.fromisoformat(settings.reports.daily_at),
            node_id=settings.node_id,
        )
        chores.append(Loop("docex-daily-report", daily.step, interval=REPORT_CHECK_SECONDS))
    worker = Worker(
        db,
        [
            DeliveryTransport(
                db,
                signer,
                node_id=settings.node_id,
                deadlines=settings.deadlines,
                batch_size=routing.batch_size,
                policy=RetryPolicy(
                    base=timedelta(seconds=routing.backoff_base_seconds),
                    cap=timedelta(seconds=routing.backoff_cap_seconds),
                    max_attempts=routing.max_attempts,
                    ttl=timedelta(seconds=routing.ttl_seconds),
                ),
                on_failure=lambda outcome: metrics.delivery_failures.labels(outcome).inc(),
            ),
            WebhookTransport(
                db,
                keks,
                settings.webhooks,
                clock=clock,
                on_outcome=lambda outcome: metrics.webhook_messages.labels(outcome).inc(),
            ),
            TransferTransport(
                db,
                ecdsa_key(key),
                kinds,
                settings.federation,
                node_id=settings.node_id,
                clock=clock,
            ),
            *alert_sends,
        ],
        routing,
        clock=clock,
        housekeeping=housekeeping,
        chores=chores,
    )
    signatures = build_signatures(
        KeyPaths.of(settings).pki_dir,
        passphrase=secret,
        audit=DatabaseSigningAudit(db),
        key_store=token,
        trust_roots=settings.signatures.trust_roots,
        tsa_url=settings.signing.tsa_url,
        limits=ValidationLimits(
            workers=settings.signatures.validator_workers,
            timeout_s=settings.signatures.validation_timeout_seconds,
            memory_bytes=settings.signatures.validation_memory_mb * 1024 * 1024,
        ),
        pool=validators,
        spool_dir=settings.spool_dir,
        on_validated=metrics.validation_seconds.observe,
    )
    return Node(
        settings=settings,
        db=db,
        store=store,
        signer=signer,
        clock=clock,
        metrics=metrics,
        worker=worker,
        overdue=OverdueSweep(db, clock, settings.deadlines),
        committer=committer,
        keks=keks,
        agency_keys=agency_keys,
        signatures=signatures,
        proxies=TrustedProxies(settings.trusted_proxies, settings.forwarded_header),
        refusals=RefusalTally(db, clock, window_seconds=settings.refusal_window_seconds),
        sign_in=sign_in,
        oidc=OidcSignIn(
            db,
            clock,
            settings.oidc,
            redirect_url=settings.oidc.redirect_url
            or f"{settings.base_url.rstrip('/')}/ui/oidc/callback",
        ),
        audit=AuditLog(
            db,
            EcdsaSigner(settings.audit_origin, key),
            settings.audit,
            clock=clock,
        ),
        kinds=kinds,
        witnessing=witnessing,
        alerts=watch,
    )


def create_app(
    settings: Settings, *, clock: Clock | None = None, validators: ValidatorPool | None = None
) -> FastAPI:
    """``validators``: a validator pool to share (tests run many nodes in one process)."""
    node = build_node(settings, clock=clock, validators=validators)

    def shut_down() -> None:
        node.worker.stop()
        node.overdue.stop()
        for transport in node.worker.transports.values():
            if isinstance(transport, (WebhookTransport, TransferTransport, AlertWebhookTransport)):
                transport.close()
        node.audit.stop()
        node.refusals.stop()
        node.committer.close()
        node.signatures.close()
        node.db.dispose()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if settings.dispatcher.enabled:
            node.worker.start()
            node.overdue.start()
        if settings.audit.integrator_enabled:
            node.audit.start()
        node.refusals.start()
        try:
            yield
        finally:
            # Joins threads and writes the last refusal tallies: never on the event loop.
            await anyio.to_thread.run_sync(shut_down)

    app = _Docex(
        title="docex",
        version=__version__,
        summary="Interconnected electronic-document exchange node",
        description="Send signed official documents between agencies; receive signed receipts.",
        lifespan=lifespan,
        docs_url=None,  # served by docs_router, with their Content-Security-Policy
        redoc_url=None,
        generate_unique_id_function=openapi.operation_id,
    )
    app.state.node = node
    app.state.shutdown = Shutdown(settings.shutdown_grace_seconds)
    errors.install(app)
    api = APIRouter(prefix="/api/v1")
    for router in (auth_router, agencies_router, documents_router, receipts_router, pdf_router):
        api.include_router(router)
    api.include_router(audit_router)
    api.include_router(deadlines_router)
    api.include_router(stats_router)
    api.include_router(deliveries_router)
    api.include_router(resend_router)
    api.include_router(webhooks_router)
    api.include_router(alerts_router)
    api.include_router(edxml_router)
    api.include_router(reports_router)
    app.include_router(api)
    app.include_router(ops_router)
    app.include_router(pki_router)
    app.include_router(federation_router)
    app.include_router(witnessing_router)
    app.include_router(directory_router)
    app.include_router(docs_router(app))
    web.install(app)
    app.add_middleware(MetricsMiddleware, observe=node.metrics.observer())
    app.add_middleware(RequestLimits, limits=settings.limits)
    app.openapi = openapi.truthful(app.openapi)  # type: ignore[method-assign]
    return app


class _Docex(FastAPI):
    """FastAPI with :class:`SecurityHeaders`, the request id and access log
    (:class:`RequestContext`) and the shutdown's drain (:class:`Draining`) around its whole
    stack, Starlette's error middleware included: even a 500 carries them."""

    def build_middleware_stack(self) -> ASGIApp:
        stack = Draining(super().build_middleware_stack(), self.state.shutdown)
        return SecurityHeaders(RequestContext(stack))
