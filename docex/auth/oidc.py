"""Single sign-on through an OpenID Connect provider: the authorization code flow with PKCE.

Guarantees:

- The provider is what its discovery document (``<issuer>/.well-known/openid-configuration``)
  says, and that document must name the configured issuer; its keys come from its ``jwks_uri``.
- A flow is bound to the browser that began it: ``begin`` draws a 256-bit secret, kept in a
  short-lived HttpOnly cookie, from which the ``state``, the ``nonce`` and the PKCE
  ``code_verifier`` (S256) are derived (HMAC-SHA-256), so nothing is stored and a callback
  without the cookie, or with another browser's state, is refused (``oidc_state_mismatch``).
- The code is exchanged once, by the provider's token endpoint (Authlib prepares the request);
  a code refused there (replayed, expired, issued to another client) is ``oidc_code_refused``.
- The ID token's signature is checked against the provider's JWKS (RS/ES/PS algorithms only),
  then ``iss`` (the issuer), ``aud`` (this client; ``azp`` too when there are several), ``exp``
  and ``iat`` (the node's clock, with a small leeway) and ``nonce``: each failure has its code.
- The account is the EXISTING active person whose ``oidc_subject`` an admin set to the value of
  the configured claim (``DOCEX_OIDC__CLAIM``). Nobody is ever created or given anything:
  a claim linked to nobody is ``oidc_not_linked``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import httpx
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy import select
from sqlalchemy.orm import Session

from docex.auth.models import Principal
from docex.config import OidcSettings
from docex.db import Database
from docex.errors import BadRequest, Forbidden, NotFound, ServiceUnavailable
from docex.kit.clock import Clock

T = TypeVar("T")

ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"]
_TIMEOUT = httpx.Timeout(10.0)


class OidcRefused(BadRequest):
    """A sign-in the provider or its token did not vouch for (400, its own code)."""


@dataclass(frozen=True)
class Provider:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str


@dataclass(frozen=True)
class Begun:
    url: str
    secret: str


def _derive(secret: str, purpose: str) -> str:
    return hmac.new(secret.encode(), purpose.encode(), hashlib.sha256).hexdigest()


def state_of(secret: str) -> str:
    return _derive(secret, "docex-oidc-state")


def nonce_of(secret: str) -> str:
    return _derive(secret, "docex-oidc-nonce")


def verifier_of(secret: str) -> str:
    return _derive(secret, "docex-oidc-pkce")  # 64 characters of [0-9a-f]: a valid verifier


class OidcSignIn:
    def __init__(
        self, db: Database, clock: Clock, settings: OidcSettings, *, redirect_url: str
    ) -> None:
        self.db = db
        self.clock = clock
        self.settings = settings
        self.redirect_url = redirect_url
        self._provider: Provider | None = None
        self._keys: KeySet | None = None
        self._lock = threading.Lock()

    @property
    def configured(self) -> bool:
        return bool(self.settings.issuer)

    # The provider -------------------------------------------------------------------------

    def _get(self, url: str) -> dict[str, Any]:
        try:
            response = httpx.get(url, timeout=_TIMEOUT, follow_redirects=False)
            response.raise_for_status()
            body = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise ServiceUnavailable(
                f"the identity provider did not answer: {exc}", code="oidc_provider_unavailable"
            ) from exc
        if not isinstance(body, dict):
            raise ServiceUnavailable(
                "the identity provider answered nonsense", code="oidc_provider_unavailable"
            )
        return body

    def provider(self) -> Provider:
        if not self.configured:
            raise NotFound("single sign-on is not configured", code="oidc_not_configured")
        with self._lock:
            if self._provider is None:
                issuer = str(self.settings.issuer).rstrip("/")
                meta = self._get(f"{issuer}/.well-known/openid-configuration")
                fields = ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri")
                if meta.get("issuer") != issuer or not all(
                    isinstance(meta.get(f), str) for f in fields
                ):
                    raise ServiceUnavailable(
                        "the identity provider's discovery document is not for its issuer",
                        code="oidc_provider_unavailable",
                    )
                self._provider = Provider(*(str(meta[f]) for f in fields))
            return self._provider

    def keys(self, *, refresh: bool = False) -> KeySet:
        provider = self.provider()
        with self._lock:
            if self._keys is None or refresh:
                try:
                    self._keys = KeySet.import_key_set(self._get(provider.jwks_uri))  # type: ignore[arg-type]
                except (JoseError, ValueError, TypeError) as exc:
                    raise ServiceUnavailable(
                        "the identity provider's keys are unreadable",
                        code="oidc_provider_unavailable",
                    ) from exc
            return self._keys

    # The flow -------------------------------------------------------------------------------

    def begin(self) -> Begun:
        """The provider's authorization URL for a new flow, and the secret to keep in the
        browser's cookie until it comes back."""
        provider = self.provider()
        secret = secrets.token_urlsafe(32)
        url = prepare_grant_uri(
            provider.authorization_endpoint,
            self.settings.client_id,
            "code",
            redirect_uri=self.redirect_url,
            scope=self.settings.scopes,
            state=state_of(secret),
            nonce=nonce_of(secret),
            code_challenge=create_s256_code_challenge(verifier_of(secret)),
            code_challenge_method="S256",
        )
        return Begun(url=url, secret=secret)

    def finish(
        self,
        *,
        secret: str | None,
        state: str | None,
        code: str | None,
        error: str | None,
        then: Callable[[Session, Principal, datetime], T],
        iss: str | None = None,
    ) -> T:
        """The provider's answer at the callback: on success, ``then(session, principal, now)``
        in a write transaction (it opens the web session). Raises an ``OidcRefused`` (400),
        ``Forbidden`` (``oidc_not_linked``), or ``ServiceUnavailable``."""
        self.provider()
        if not secret or not state or not hmac.compare_digest(state_of(secret), state):
            raise OidcRefused(
                "the sign-in's state is not this browser's", code="oidc_state_mismatch"
            )
        if iss is not None and iss != self.provider().issuer:  # RFC 9207: a mix-up
            raise OidcRefused(
                "the answer names another identity provider", code="oidc_provider_refused"
            )
        if error or not code:
            raise OidcRefused(
                f"the identity provider refused: {(error or 'no code')[:100]}",
                code="oidc_provider_refused",
            )
        raw = self._exchange(code, verifier_of(secret))
        claims = self.verify(raw, nonce=nonce_of(secret))
        value = claims.get(self.settings.claim)
        if not isinstance(value, str | int) or isinstance(value, bool) or str(value) == "":
            raise OidcRefused(
                f"the ID token carries no {self.settings.claim!r}", code="oidc_claim_missing"
            )
        with self.db.write() as session:
            principal = session.scalars(
                select(Principal).where(
                    Principal.oidc_subject == str(value), Principal.active.is_(True)
                )
            ).one_or_none()
            if principal is None:
                raise Forbidden(
                    "this identity is linked to no account here: ask an administrator",
                    code="oidc_not_linked",
                )
            return then(session, principal, self.clock.now())

    def _exchange(self, code: str, verifier: str) -> str:
        provider = self.provider()
        try:
            response = httpx.post(
                provider.token_endpoint,
                data={
                    "grant_type": "authorization_code",
                    "code": code,
                    "redirect_uri": self.redirect_url,
                    "code_verifier": verifier,
                },
                auth=(self.settings.client_id, self.settings.client_secret),
                timeout=_TIMEOUT,
                follow_redirects=False,
            )
        except httpx.HTTPError as exc:
            raise ServiceUnavailable(
                f"the identity provider did not answer: {exc}", code="oidc_provider_unavailable"
            ) from exc
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code >= 400 or not isinstance(body, dict):
            reason = body.get("error") if isinstance(body, dict) else response.status_code
            raise OidcRefused(
                f"the identity provider refused the code ({reason})", code="oidc_code_refused"
            )
        raw = body.get("id_token")
        if not isinstance(raw, str):
            raise OidcRefused("the identity provider sent no ID token", code="oidc_token_invalid")
        return raw

    def verify(self, raw: str, *, nonce: str) -> dict[str, Any]:
        """The claims of the ID token ``raw``, once its signature, issuer, audience, times and
        nonce are checked."""
        provider = self.provider()
        try:
            try:
                token = jwt.decode(raw, self.keys(), algorithms=ALGORITHMS)
            except JoseError:  # perhaps a key rotated since: read the keys again, once
                token = jwt.decode(raw, self.keys(refresh=True), algorithms=ALGORITHMS)
        except (JoseError, ValueError) as exc:
            raise OidcRefused(
                "the ID token's signature is not the provider's", code="oidc_token_invalid"
            ) from exc
        claims = dict(token.claims)
        if claims.get("iss") != provider.issuer:
            raise OidcRefused("the ID token is from another issuer", code="oidc_token_invalid")
        aud = claims.get("aud")
        audiences = aud if isinstance(aud, list) else [aud]
        client = self.settings.client_id
        if client not in audiences or (len(audiences) > 1 and claims.get("azp") != client):
            raise OidcRefused("the ID token is for another client", code="oidc_wrong_audience")
        now = self.clock.now().timestamp()
        leeway = self.settings.leeway_seconds
        exp, iat = claims.get("exp"), claims.get("iat")
        if not isinstance(exp, int | float) or not isinstance(iat, int | float):
            raise OidcRefused("the ID token has no times", code="oidc_token_invalid")
        if now > exp + leeway:
            raise OidcRefused("the ID token has expired", code="oidc_token_expired")
        if iat > now + leeway:
            raise OidcRefused("the ID token is from the future", code="oidc_token_invalid")
        given = claims.get("nonce")
        if not isinstance(given, str) or not hmac.compare_digest(given, nonce):
            raise OidcRefused(
                "the ID token's nonce is not this sign-in's", code="oidc_nonce_mismatch"
            )
        return claims
