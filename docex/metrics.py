"""Prometheus metrics of one node, in a registry of its own (two nodes can share a process)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from prometheus_client import (
    PLATFORM_COLLECTOR,
    CollectorRegistry,
    Counter,
    Histogram,
    Info,
    ProcessCollector,
    disable_created_metrics,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

    from docex.db import Database
    from docex.kit.clock import Clock


disable_created_metrics()  # the *_created series only add noise to every scrape


class _QueueCollector(Collector):
    """Read at scrape time from the database, so every process reports the same truth."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    def collect(self) -> Iterator[Metric]:
        from docex.documents.models import Delivery
        from docex.kit.clock import as_utc
        from docex.queue.jobs import pending
        from docex.vocabulary.transport import QUEUED, TRANSPORT_STATES

        by_state = GaugeMetricFamily(
            "docex_deliveries", "Deliveries by transport state", labels=["transport"]
        )
        oldest = GaugeMetricFamily(
            "docex_oldest_queued_delivery_age_seconds",
            "Age of the oldest delivery still queued (0 when none)",
        )
        queued_jobs = GaugeMetricFamily(
            "docex_jobs_queued", "Outbound jobs waiting, by kind", labels=["kind"]
        )
        oldest_job = GaugeMetricFamily(
            "docex_oldest_queued_job_age_seconds",
            "Age of the oldest outbound job still waiting, by kind",
            labels=["kind"],
        )
        try:
            with self.db.read() as session:
                waiting = pending(session)
                counts = dict(
                    session.execute(
                        select(Delivery.transport, func.count()).group_by(Delivery.transport)
                    ).all()
                )
                first = session.scalar(
                    select(func.min(Delivery.created_at)).where(Delivery.transport == QUEUED)
                )
        except Exception:  # a scrape must not fail because the database is down
            return
        for state in TRANSPORT_STATES:
            by_state.add_metric([state], counts.get(state, 0))
        if first is not None:
            oldest.add_metric([], max(0.0, (self.clock.now() - as_utc(first)).total_seconds()))
        else:
            oldest.add_metric([], 0.0)
        yield by_state
        yield oldest
        now = self.clock.now()
        for kind, (count, since) in sorted(waiting.items()):
            queued_jobs.add_metric([kind], count)
            age = (now - as_utc(since)).total_seconds() if since is not None else 0.0
            oldest_job.add_metric([kind], max(0.0, age))
        yield queued_jobs
        yield oldest_job


class _WitnessCollector(Collector):
    """What this node witnessed of its peers' audit logs (docex.federation.witnessing), read
    from the database at scrape time: a fork stays visible on every replica until cleared."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    def collect(self) -> Iterator[Metric]:
        from docex.federation.witnessing import witnessed
        from docex.kit.clock import as_utc

        fork = GaugeMetricFamily(
            "docex_federation_witness_fork",
            "1 while a fork of this peer's audit log stands (nothing cosigned until cleared)",
            labels=["peer"],
        )
        size = GaugeMetricFamily(
            "docex_federation_witnessed_tree_size",
            "Size of the last checkpoint of this peer's audit log this node cosigned",
            labels=["peer"],
        )
        age = GaugeMetricFamily(
            "docex_federation_witnessed_age_seconds",
            "Seconds since this node last checked this peer's audit log and found it consistent",
            labels=["peer"],
        )
        try:
            with self.db.read() as session:
                rows = witnessed(session)
        except Exception:  # a scrape must not fail because the database is down
            return
        now = self.clock.now()
        for row in rows:
            fork.add_metric([row.peer], 0 if row.fork_at is None else 1)
            size.add_metric([row.peer], row.tree_size)
            age.add_metric([row.peer], max(0.0, (now - as_utc(row.updated_at)).total_seconds()))
        yield fork
        yield size
        yield age


class _DirectoryCollector(Collector):
    """The federation directory in force, read at scrape time (nothing when there is none)."""

    def __init__(self, db: Database, clock: Clock, max_age_seconds: float) -> None:
        self.db = db
        self.clock = clock
        self.max_age_seconds = max_age_seconds

    def collect(self) -> Iterator[Metric]:
        from docex.federation.directory import state

        try:
            with self.db.read() as session:
                found = state(session, now=self.clock.now(), max_age_seconds=self.max_age_seconds)
        except Exception:  # a scrape must not fail because the database is down
            return
        if found is None:
            return
        version = GaugeMetricFamily(
            "docex_directory_version", "Version of the federation directory this node works on"
        )
        version.add_metric([], found.version)
        age = GaugeMetricFamily(
            "docex_directory_age_seconds",
            "Seconds since the directory in force was issued by the hub",
        )
        age.add_metric([], found.age_seconds)
        yield version
        yield age


class Metrics:
    def __init__(self) -> None:
        from docex import __version__

        self.registry = CollectorRegistry(auto_describe=True)
        # process_* (CPU, memory, open files) and python_info, as every Prometheus exporter.
        ProcessCollector(registry=self.registry)
        self.registry.register(PLATFORM_COLLECTOR)
        Info("docex_build", "The docex version this node runs", registry=self.registry).info(
            {"version": __version__}
        )
        self.requests = Histogram(
            "docex_http_request_duration_seconds",
            "HTTP requests by route template, method and status, with latency",
            ["route", "method", "status"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
        self.refusals = Counter(
            "docex_refusals",
            "Requests refused with a 4xx, by error code and route",
            ["error", "route"],
            registry=self.registry,
        )
        self.sign_in_locks = Counter(
            "docex_sign_in_locks",
            "Accounts and client addresses locked out after failed sign-ins, by scope",
            ["scope"],
            registry=self.registry,
        )

        self.delivery_failures = Counter(
            "docex_delivery_failures",
            "Delivery attempts that failed, by outcome: retry (queued again) or failed (gave up)",
            ["outcome"],
            registry=self.registry,
        )
        self.webhook_messages = Counter(
            "docex_webhook_messages",
            "Webhook sends and their outcome: delivered (2xx), retry (queued again), failed "
            "(gave up), dropped (endpoint disabled or deleted)",
            ["outcome"],
            registry=self.registry,
        )
        self.signature_refusals = Counter(
            "docex_signature_refusals",
            "Documents refused because their signatures failed the policy, by indication",
            ["indication"],
            registry=self.registry,
        )
        self.validation_seconds = Histogram(
            "docex_signature_validation_seconds",
            "Time to validate the signatures of one PDF (in the sandboxed workers)",
            registry=self.registry,
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 60),
        )

    def watch_queue(self, db: Database, clock: Clock) -> None:
        self.registry.register(_QueueCollector(db, clock))

    def watch_witnessing(self, db: Database, clock: Clock) -> None:
        self.registry.register(_WitnessCollector(db, clock))

    def watch_directory(self, db: Database, clock: Clock, max_age_seconds: float) -> None:
        self.registry.register(_DirectoryCollector(db, clock, max_age_seconds))

    def observer(self) -> Callable[[str, str, int, float], None]:
        def observe(route: str, method: str, status: int, seconds: float) -> None:
            self.requests.labels(route, method, str(status)).observe(seconds)

        return observe
