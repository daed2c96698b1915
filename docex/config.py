"""Node settings, read from the environment (prefix ``DOCEX_``, nested sections joined by ``__``).

Everything a node needs to know about itself lives here; ``create_app(settings)`` builds the rest.
Secrets (the key passphrase, the PKCS#11 PIN, S3 credentials) are ``SecretStr`` so they never
reach a log or a repr.
"""

from __future__ import annotations

import ipaddress
import json
from datetime import date, time
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from docex.kit.ids import NODE_ID_PATTERN
from docex.kit.proxies import ProxyHeader
from docex.vocabulary.levels import Classification


class LimitSettings(BaseModel):
    max_body_bytes: int = Field(default=512 * 1024 * 1024, ge=1024)
    max_files: int = Field(default=20, ge=1, description="main file plus attachments")
    max_envelope_bytes: int = Field(default=64 * 1024, ge=256)
    max_file_name_chars: int = 200
    # Every body that is neither a document nor a PDF to sign: JSON and forms. A recall's list
    # of recipients is the largest of them (a broadcast to every commune: ~60 KiB).
    max_small_body_bytes: int = Field(default=256 * 1024, ge=1024)
    # Slow clients (docex serve): a request head must be complete this long after the
    # connection opens (or after its first byte, on a kept-alive connection)...
    header_timeout_seconds: float = Field(default=10, gt=0)
    # ...the next piece of a body must come within this, and after this long a body must
    # keep coming at the rate below on average, or the request ends with 408.
    body_timeout_seconds: float = Field(default=30, gt=0)
    min_body_bytes_per_second: int = Field(default=1024, ge=0)
    # Concurrent connections from one peer address (the socket's, not a forwarded header);
    # 0: no cap (behind a reverse proxy every connection comes from the proxy).
    max_connections_per_address: int = Field(default=100, ge=0)


class MetricsSettings(BaseModel):
    """Who may read ``/metrics``: a peer in ``allow`` (not relayed by a proxy), or anyone
    presenting ``token`` as a bearer token."""

    allow: list[IPv4Network | IPv6Network] = Field(
        default_factory=lambda: [ip_network("127.0.0.0/8"), ip_network("::1/128")]
    )
    token: SecretStr | None = None


class StorageSettings(BaseModel):
    # Unset: S3 when an S3 endpoint is configured, else the filesystem. So a node moves to
    # SeaweedFS/MinIO by setting three variables: endpoint, access key, secret key.
    backend: Literal["filesystem", "s3"] | None = None
    blob_dir: Path | None = None
    s3_endpoint: str | None = Field(default=None, description="host:port of the S3 endpoint")
    s3_bucket: str = "docex"
    s3_access_key: SecretStr | None = None
    s3_secret_key: SecretStr | None = None
    s3_secure: bool = Field(default=False, description="https to the endpoint")
    s3_region: str | None = None

    @property
    def resolved_backend(self) -> str:
        if self.backend is not None:
            return self.backend
        return "s3" if self.s3_endpoint else "filesystem"


class SigningSettings(BaseModel):
    key_passphrase: SecretStr | None = None
    # Where the node key, the agencies' seal keys and custodial personal keys live: "files"
    # (the data directory, encrypted with the passphrase) or "pkcs11" (a token: an HSM, or
    # SoftHSM2), which needs the module (the vendor's .so), the token label and the user PIN.
    key_store: Literal["files", "pkcs11"] = "files"
    pkcs11_module: Path | None = None
    pkcs11_token: str | None = None
    pkcs11_pin: SecretStr | None = None
    # An outside RFC 3161 time-stamping authority for PAdES signatures (its URL); unset, the
    # node's own authority (the demo PKI's) stamps them in-process.
    tsa_url: str | None = None

    @model_validator(mode="after")
    def _pkcs11_complete(self) -> SigningSettings:
        if self.key_store == "pkcs11":
            missing = [
                f"DOCEX_SIGNING__{name.upper()}"
                for name in ("pkcs11_module", "pkcs11_token", "pkcs11_pin")
                if getattr(self, name) is None
            ]
            if missing:
                raise ValueError(f"key_store 'pkcs11' needs {', '.join(missing)}")
        return self


class SignaturesSettings(BaseModel):
    # PEM or DER files of the certification authorities this node trusts (the national root);
    # a node that hosts the demo PKI (docex init --demo) also trusts its own root.
    trust_roots: list[Path] = Field(default_factory=list)
    validator_workers: int = Field(default=2, ge=1)
    validation_timeout_seconds: float = Field(default=20, gt=0)
    validation_memory_mb: int = Field(default=512, ge=64)


class DispatcherSettings(BaseModel):
    """The routing worker (docex/routing/worker.py) and its deliveries to hosted agencies."""

    enabled: bool = True
    poll_interval_seconds: float = Field(default=0.5, gt=0)
    # A claimed job is leased this long and the heartbeat renews the lease while the worker
    # lives: what a dead process held is taken over within about one lease.
    lease_seconds: float = Field(default=6.0, gt=0)
    heartbeat_seconds: float = Field(default=2.0, gt=0)
    batch_size: int = Field(default=200, ge=1)
    # A delivery that cannot be made is retried with capped exponential backoff (and jitter)
    # until it has been tried max_attempts times or has waited ttl_seconds: then it fails,
    # and the sender is told.
    max_attempts: int = Field(default=10, ge=1)
    backoff_base_seconds: float = Field(default=2.0, gt=0)
    backoff_cap_seconds: float = Field(default=3600.0, gt=0)
    ttl_seconds: float = Field(default=3 * 86400.0, gt=0)
    housekeeping_interval_seconds: float = Field(default=600, gt=0)
    orphan_grace_seconds: float = Field(default=3600, ge=60)


class StatsSettings(BaseModel):
    """Network statistics (docex/stats): how often a node pushes its agencies' day rows to the
    hub (0: never; a node alone, or the hub itself, pushes nowhere anyway)."""

    push_interval_seconds: float = Field(default=300, ge=0)


class DeadlineSettings(BaseModel):
    """The legal receipt rule (docex/routing/deadlines.py): a delivery is due by the end of the
    recipient's working day, the next working day's if it arrives after the end, on a weekend
    or on a holiday; flash and very urgent documents within hours, whatever the day."""

    timezone: str = "Asia/Ho_Chi_Minh"
    day_end: time = time(17, 0)
    # ISO weekday numbers, Monday 1 ... Sunday 7: Saturday and Sunday.
    weekend: Annotated[frozenset[int], NoDecode] = frozenset({6, 7})
    holidays: Annotated[frozenset[date], NoDecode] = frozenset()
    flash_hours: float = Field(default=1, gt=0)
    very_urgent_hours: float = Field(default=2, gt=0)
    # How often the overdue sweep runs beside the routing worker (docex serve, docex worker).
    sweep_interval_seconds: float = Field(default=60, gt=0)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("weekend", "holidays", mode="before")
    @classmethod
    def _listed(cls, value: object) -> object:
        """``6,7`` or ``2026-04-30, 2026-05-01`` or a JSON list."""
        if isinstance(value, str):
            text = value.strip()
            value = json.loads(text) if text.startswith("[") else text.split(",")
        if isinstance(value, list | tuple | set | frozenset):
            return [v.strip() if isinstance(v, str) else v for v in value if str(v).strip()]
        return value

    @field_validator("weekend")
    @classmethod
    def _weekdays(cls, value: frozenset[int]) -> frozenset[int]:
        if not value <= set(range(1, 8)) or len(value) == 7:
            raise ValueError("weekend days are ISO weekdays 1 (Monday) to 7, not all seven")
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class WebhookSettings(BaseModel):
    """Webhooks (docex/routing/webhooks): what a target may be, and how events are sent."""

    # Targets on private, loopback, link-local or otherwise non-public addresses are refused
    # (SSRF) unless the operator allows them: a node whose integrators sit on its own network.
    allow_private_targets: bool = False
    connect_timeout_seconds: float = Field(default=5.0, gt=0)
    # The whole request, answer included: a receiver slower than this has failed the attempt.
    timeout_seconds: float = Field(default=10.0, gt=0)
    # Sends at once, across endpoints: a receiver that hangs holds one of them, not the rest.
    concurrency: int = Field(default=8, ge=1, le=256)
    batch_size: int = Field(default=100, ge=1)
    # How long the worker waits for a batch's sends before claiming the next one; sends still
    # in flight then (a receiver that hangs) go on by themselves.
    batch_wait_seconds: float = Field(default=1.0, gt=0)
    # An event that cannot be sent is retried with capped exponential backoff (and jitter),
    # without an attempt cap, until it has waited ttl_seconds: a receiver down for an hour
    # gets every event once it is back.
    backoff_base_seconds: float = Field(default=5.0, gt=0)
    backoff_cap_seconds: float = Field(default=600.0, gt=0)
    ttl_seconds: float = Field(default=3 * 86400.0, gt=0)


class AlertSettings(BaseModel):
    """Early warning (docex/alerts): the rules' thresholds, and where a raised alert is sent."""

    # How often the rules are evaluated (a chore of the routing worker).
    interval_seconds: float = Field(default=60.0, gt=0)
    node_silent_minutes: float = Field(default=30.0, gt=0)
    # Warn this long before an urgent delivery's due time while it is still unanswered.
    due_soon_minutes: float = Field(default=30.0, gt=0)
    queue_age_minutes: float = Field(default=30.0, gt=0)
    checkpoint_cosign_minutes: float = Field(default=30.0, gt=0)
    # A webhook (signed the Standard Webhooks way with webhook_secret, ``whsec_`` + base64).
    # The operator configures it, so it may be on the node's own network (no SSRF check).
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    # E-mail over SMTP: sent when smtp_host and mail_to are set.
    smtp_host: str | None = None
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_starttls: bool = False
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    mail_from: str = "docex@localhost"
    mail_to: list[str] = Field(default_factory=list)
    timeout_seconds: float = Field(default=10.0, gt=0)
    # A send that fails is retried with capped exponential backoff until ttl_seconds.
    backoff_base_seconds: float = Field(default=5.0, gt=0)
    backoff_cap_seconds: float = Field(default=600.0, gt=0)
    ttl_seconds: float = Field(default=86400.0, gt=0)


class FederationSettings(BaseModel):
    """Federation (docex/federation): the directory this node trusts, and how it talks to peers.

    A node alone (the embedded default) needs none of it: every agency is hosted here.
    """

    # Where the signed directory is fetched from (the hub's ``/federation/v1/directory``);
    # None: this node does not fetch one (the hub itself, or a node alone).
    directory_url: str | None = None
    # The trust anchor: PEM file of the public key (or certificate) the directory must be
    # signed by. A directory signed by anything else is refused.
    anchor: Path | None = None
    # This node publishes the directory (the hub): ``docex federation publish`` signs it.
    publisher: bool = False
    # The network's name, in every directory: one signed for another network is refused.
    network: str = Field(default="docex", min_length=1, max_length=64)
    fetch_interval_seconds: float = Field(default=300.0, gt=0)
    # A directory older than this (from its issue time) is stale: refused when fetched, and
    # reported by /readyz while it is the last good one.
    max_age_seconds: float = Field(default=7 * 86400.0, gt=0)
    # Transfers: a signature older (or further in the future) than this is refused (replay).
    max_clock_skew_seconds: float = Field(default=300.0, gt=0)
    connect_timeout_seconds: float = Field(default=5.0, gt=0)
    timeout_seconds: float = Field(default=120.0, gt=0)
    # Mutual TLS to peers: this node's client certificate and key, and the CA bundle that
    # peers' server certificates must chain to (None: the system's).
    tls_client_cert: Path | None = None
    tls_client_key: Path | None = None
    tls_ca: Path | None = None
    # A transfer that cannot be sent is retried with capped exponential backoff (and jitter)
    # until it has waited ttl_seconds; meanwhile the sender sees "waiting for node X".
    backoff_base_seconds: float = Field(default=2.0, gt=0)
    backoff_cap_seconds: float = Field(default=300.0, gt=0)
    ttl_seconds: float = Field(default=3 * 86400.0, gt=0)
    batch_size: int = Field(default=20, ge=1)
    # A transfer to a relay (the hub) that failed this many attempts is also sent straight to
    # the node it is for, once: with the hub down, the provinces keep exchanging (0: never).
    detour_after_attempts: int = Field(default=2, ge=0)
    # The transfer protocol (docex/federation/wire.py, inbound.py, transport.py): bounds of an
    # incoming transfer (checked while it streams in: 413), peers sent to at once, and how
    # long the transport's loop waits for a batch before claiming the next one.
    max_manifest_bytes: int = Field(default=1024 * 1024, ge=1024)
    max_parts: int = Field(default=1000, ge=1)
    max_transfer_bytes: int = Field(default=512 * 1024 * 1024, ge=1024)
    concurrency: int = Field(default=8, ge=1)
    batch_wait_seconds: float = Field(default=1.0, ge=0)
    # Cross-node audit (docex/federation/witnessing.py): every this many seconds the routing
    # worker fetches each peer's latest checkpoint and cosigns it if it extends the last one
    # cosigned; 0 turns witnessing off.
    witness_interval_seconds: float = Field(default=60.0, ge=0)
    # The supervision dashboard (docex/federation/health.py): a peer is shown down when
    # transfers to it are failing and nothing succeeded with it for this long.
    peer_down_after_seconds: float = Field(default=900.0, gt=0)


class TlsSettings(BaseModel):
    """``docex serve`` over HTTPS (``DOCEX_TLS__*``): its certificate and key, and, for mutual
    TLS, the CA bundle client certificates must chain to. Without ``cert_file`` it serves
    plain HTTP (behind a proxy that terminates TLS)."""

    cert_file: Path | None = None  # PEM: the server certificate, then its chain
    key_file: Path | None = None  # PEM private key of the certificate
    key_password: SecretStr | None = None
    client_ca_file: Path | None = None  # PEM CA bundle for client certificates
    # With client_ca_file: true refuses a handshake without a valid client certificate
    # (mutual TLS, between nodes); false asks for one and checks it if given.
    client_cert_required: bool = True


class AuditSettings(BaseModel):
    # The log's identity in its checkpoints (c2sp.org/tlog-checkpoint origin line); default
    # "<node id>/audit". Never change it once checkpoints exist: witnesses pin it.
    origin: str | None = Field(default=None, pattern=r"^[^\s+]+$")
    integrator_enabled: bool = True
    integrate_interval_seconds: float = Field(default=0.5, gt=0)
    batch_size: int = Field(default=5000, ge=1, le=20000)
    checkpoint_interval_seconds: float = Field(default=60.0, gt=0)
    checkpoint_events: int = Field(default=1000, ge=1)


class AuthSettings(BaseModel):
    access_token_ttl_seconds: int = Field(default=8 * 3600, ge=60)
    # Sign-in throttling (docex/auth/signin.py): after this many failures in a row, an account
    # (or, after the second figure, a client address) waits before its next attempt, twice as
    # long after each further failure, up to the maximum; failures are forgotten after a quiet
    # spell.
    sign_in_free_attempts: int = Field(default=5, ge=1)
    sign_in_address_free_attempts: int = Field(default=30, ge=1)
    sign_in_backoff_seconds: float = Field(default=1.0, gt=0)
    sign_in_backoff_max_seconds: float = Field(default=900.0, gt=0)
    sign_in_forget_seconds: float = Field(default=3600.0, gt=0)
    # Local passwords for people (web sign-in and POST /api/v1/auth/token): off, a node whose
    # people sign in only through the OpenID provider refuses them (``passwords_disabled``).
    # System principals (other nodes, machines) are not people and keep their API tokens.
    passwords: bool = True


class OidcSettings(BaseModel):
    """Single sign-on through an OpenID Connect provider (docex/auth/oidc.py); off while
    ``issuer`` is unset."""

    issuer: str | None = None
    client_id: str = ""
    client_secret: str = ""
    # Where the provider sends the browser back; default <public url>/ui/oidc/callback.
    redirect_url: str | None = None
    # The claim of the ID token that links an account (principals.oidc_subject), e.g. the
    # citizen id number the provider vouches for.
    claim: str = "sub"
    scopes: str = "openid"
    # The button's words: "Sign in with <name>".
    name: str = "VNeID"
    # Seconds of clock skew tolerated on the ID token's exp/iat.
    leeway_seconds: int = Field(default=60, ge=0, le=600)


class WebSettings(BaseModel):
    """The web UI (docex/web): its sessions and pages."""

    # A session ends after this long without a request, and in any case this long after
    # sign-in (docex/auth/sessions.py).
    session_idle_seconds: int = Field(default=30 * 60, ge=60)
    session_absolute_seconds: int = Field(default=10 * 3600, ge=300)
    # Secure cookies (the __Host- prefix): browsers keep them on HTTPS and on localhost only.
    # Turn off only behind a proxy that speaks plain HTTP to browsers, which you should not do.
    cookie_secure: bool = True
    # How often an open inbox asks whether something arrived.
    poll_seconds: int = Field(default=10, ge=2)
    default_locale: Literal["vi", "en"] = "vi"


class ReportSettings(BaseModel):
    """The daily data report (docex/reports)."""

    # When (Vietnam time, HH:MM, e.g. "07:00") the worker writes the previous day's report into
    # DATA_DIR/reports; "off" (the default: only the supervision centre's hub wants it) none.
    daily_at: str = Field(default="off", pattern=r"^(off|([01]\d|2[0-3]):[0-5]\d)$")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="DOCEX_", env_nested_delimiter="__", extra="ignore"
    )

    data_dir: Path = Path("docex-data")
    database_url: str | None = None
    node_id: str = Field(default="docex-local", pattern=NODE_ID_PATTERN)
    public_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "info"
    # docex serve / docex worker: one JSON object a line (docex/kit/logs.py), or plain text.
    log_format: Literal["json", "text"] = "json"
    # On SIGTERM, how long requests in flight may take before they are cut (api/shutdown.py).
    shutdown_grace_seconds: float = Field(default=10.0, ge=0)
    max_classification: Classification = Classification.TOP_SECRET
    # Proxies (addresses or CIDR blocks) whose forwarding header says who the client is;
    # from anyone else the socket peer is the client (docex/kit/proxies.py).
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    forwarded_header: ProxyHeader = "x-forwarded-for"
    # Refusals of anonymous requests are audited as one event per (address, error, window).
    refusal_window_seconds: float = Field(default=60.0, gt=0)

    limits: LimitSettings = LimitSettings()
    storage: StorageSettings = StorageSettings()
    signing: SigningSettings = SigningSettings()
    signatures: SignaturesSettings = SignaturesSettings()
    dispatcher: DispatcherSettings = DispatcherSettings()
    auth: AuthSettings = AuthSettings()
    audit: AuditSettings = AuditSettings()
    metrics: MetricsSettings = MetricsSettings()
    deadlines: DeadlineSettings = DeadlineSettings()
    webhooks: WebhookSettings = WebhookSettings()
    alerts: AlertSettings = AlertSettings()
    federation: FederationSettings = FederationSettings()
    stats: StatsSettings = StatsSettings()
    tls: TlsSettings = TlsSettings()
    web: WebSettings = WebSettings()
    reports: ReportSettings = ReportSettings()
    oidc: OidcSettings = OidcSettings()

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _proxy_list(cls, value: object) -> object:
        """``10.0.0.1, 10.1.0.0/16`` or a JSON list; each entry must be an address or a block."""
        if isinstance(value, str):
            text = value.strip()
            value = json.loads(text) if text.startswith("[") else text.split(",")
        if isinstance(value, list):
            value = [str(v).strip() for v in value if str(v).strip()]
            for entry in value:
                ipaddress.ip_network(entry, strict=False)  # ValueError names the bad entry
        return value

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'docex.db').resolve()}"

    @property
    def audit_origin(self) -> str:
        return self.audit.origin or f"{self.node_id}/audit"

    @property
    def passphrase(self) -> str | None:
        """The node passphrase that protects every key file, or None (keys in the clear)."""
        secret = self.signing.key_passphrase
        return secret.get_secret_value() if secret else None

    @property
    def blob_dir(self) -> Path:
        return self.storage.blob_dir or self.data_dir / "blobs"

    @property
    def keys_dir(self) -> Path:
        return self.data_dir / "keys"

    @property
    def reports_dir(self) -> Path:
        return self.data_dir / "reports"

    @property
    def spool_dir(self) -> Path:
        """Where request bodies are spooled while being checked; never holds accepted data."""
        return self.data_dir / "spool"

    @property
    def base_url(self) -> str:
        scheme = "https" if self.tls.cert_file is not None else "http"
        return self.public_url or f"{scheme}://{self.host}:{self.port}"
