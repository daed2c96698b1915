"""``create_app(settings)``: builds the node once (database, blob store, signer, dispatcher) and
the FastAPI application around it. Two calls with two settings give two independent nodes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from cryptography import x509
from fastapi import APIRouter, FastAPI
from starlette.types import ASGIApp

from docex import __version__
from docex.agencies.endpoints import router as agencies_router
from docex.api import errors, openapi
from docex.api.headers import SecurityHeaders, docs_router
from docex.api.limits import RequestLimits
from docex.api.middleware import MetricsMiddleware
from docex.api.ops import router as ops_router
from docex.api.pdf import router as pdf_router
from docex.api.pki import router as pki_router
from docex.audit.endpoints import router as audit_router
from docex.audit.integrator import AuditLog
from docex.audit.notes import EcdsaSigner
from docex.auth.endpoints import router as auth_router
from docex.config import Settings
from docex.db import Database
from docex.documents.endpoints import router as documents_router
from docex.documents.orphans import sweep_orphans
from docex.documents.upload import sweep_spool
from docex.groupcommit import GroupCommitter
from docex.kit.clock import Clock, SystemClock
from docex.metrics import Metrics
from docex.node import Node
from docex.node_keys import node_key, open_token
from docex.routing.dispatcher import Dispatcher
from docex.routing.endpoints import router as receipts_router
from docex.signing.agency_keys import AgencyKeyStore
from docex.signing.jws import NodeSigner
from docex.signing.keks import KekRing
from docex.signing.pki import NODE_CERT_FILE
from docex.signing.sandbox import ValidatorPool
from docex.signing.service import PKI_DIR, NodeSignatures, ValidationLimits
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
    key = node_key(settings, token)
    node_chain = settings.data_dir / PKI_DIR / "certs" / NODE_CERT_FILE
    chain = x509.load_pem_x509_certificates(node_chain.read_bytes()) if node_chain.exists() else []
    signer = NodeSigner(key, settings.node_id, chain=chain)
    metrics = Metrics()
    metrics.watch_queue(db, clock)
    store = build_store(settings)
    committer = GroupCommitter(db, before_commit=store.barrier)
    grace = timedelta(seconds=settings.dispatcher.orphan_grace_seconds)
    dispatcher = Dispatcher(
        db,
        signer,
        settings.dispatcher,
        node_id=settings.node_id,
        clock=clock,
        housekeeping=lambda: sweep_orphans(db, committer, store, now=clock.now(), grace=grace),
    )
    return Node(
        settings=settings,
        db=db,
        store=store,
        signer=signer,
        clock=clock,
        metrics=metrics,
        dispatcher=dispatcher,
        committer=committer,
        keks=KekRing(settings.keys_dir / "kek", secret),
        agency_keys=AgencyKeyStore(settings.keys_dir / "agencies", secret),
        signatures=NodeSignatures(
            settings.data_dir,
            passphrase=secret,
            key_store=token,
            trust_roots=settings.signatures.trust_roots,
            limits=ValidationLimits(
                workers=settings.signatures.validator_workers,
                timeout_s=settings.signatures.validation_timeout_seconds,
                memory_bytes=settings.signatures.validation_memory_mb * 1024 * 1024,
            ),
            pool=validators,
            spool_dir=settings.spool_dir,
        ),
        audit=AuditLog(db, EcdsaSigner(settings.audit_origin, key), settings.audit, clock=clock),
    )


def create_app(
    settings: Settings, *, clock: Clock | None = None, validators: ValidatorPool | None = None
) -> FastAPI:
    """``validators``: a validator pool to share (tests run many nodes in one process)."""
    node = build_node(settings, clock=clock, validators=validators)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if settings.dispatcher.enabled:
            node.dispatcher.start()
        if settings.audit.integrator_enabled:
            node.audit.start()
        try:
            yield
        finally:
            node.dispatcher.stop()
            node.audit.stop()
            node.committer.close()
            node.signatures.close()
            node.db.dispose()

    app = _Docex(
        title="docex",
        version=__version__,
        summary="Interconnected electronic-document exchange node",
        description="Send signed official documents between agencies; receive signed receipts.",
        lifespan=lifespan,
        docs_url=None,  # served by docs_router, with their Content-Security-Policy
        redoc_url=None,
    )
    app.state.node = node
    errors.install(app)
    api = APIRouter(prefix="/api/v1")
    for router in (auth_router, agencies_router, documents_router, receipts_router, pdf_router):
        api.include_router(router)
    api.include_router(audit_router)
    app.include_router(api)
    app.include_router(ops_router)
    app.include_router(pki_router)
    app.include_router(docs_router(app))
    app.add_middleware(MetricsMiddleware, observe=node.metrics.observer())
    app.add_middleware(RequestLimits, limits=settings.limits)
    app.openapi = openapi.truthful(app.openapi)  # type: ignore[method-assign]
    return app


class _Docex(FastAPI):
    """FastAPI with :class:`SecurityHeaders` around its whole stack, Starlette's error
    middleware included: even a 500 carries them."""

    def build_middleware_stack(self) -> ASGIApp:
        return SecurityHeaders(super().build_middleware_stack())
