"""The one exception tree of ``docex.signing``. Every failure of the package is one of these, and
each says, by ``kind``, what it means to a caller; ``docex.api.errors`` maps the kinds to HTTP in
one place, and the CLI prints ``code: detail``.

    SigningServiceError       (never raised itself)   code, detail, kind
    ├── SigningError          a PDF was not signed; ``code`` says why (``pades``)
    ├── KeyStoreError         a key cannot be used: missing, locked, token down   unavailable
    │   └── UnknownKeyError   no key with that id in the store (``keystore``)
    └── PkiError              the PKI directory is missing, inconsistent or locked unavailable

Kinds: ``refused`` (the request or its document is at fault), ``not_found`` (no such key),
``unsupported`` (not a PDF), ``unavailable`` (a key, a token, the PKI or the time-stamping
authority failed; nothing is wrong with the request). ``public_detail`` is what may be shown to
a caller: for a key or the PKI, never how it failed (that goes to the log).
"""

from __future__ import annotations

from typing import ClassVar, Literal

FailureKind = Literal["refused", "not_found", "unsupported", "unavailable"]

SigningErrorCode = Literal[
    "not_a_pdf",
    "invalid_pdf",
    "encrypted_pdf",
    "locked_pdf",
    "unknown_key",
    "key_unavailable",
    "certificate_invalid",
    "timestamp_unavailable",
    "resource_limit",
]

_SIGNING_KINDS: dict[str, FailureKind] = {
    "unknown_key": "not_found",
    "not_a_pdf": "unsupported",
    "key_unavailable": "unavailable",
    "timestamp_unavailable": "unavailable",
}


class SigningServiceError(Exception):
    """The root of the tree; ``code`` is machine-readable, ``detail`` for people and logs."""

    default_code: ClassVar[str] = "signing_failed"
    default_kind: ClassVar[FailureKind] = "refused"

    def __init__(self, detail: str, *, code: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.code: str = code or self.default_code

    @property
    def kind(self) -> FailureKind:
        return self.default_kind

    @property
    def public_detail(self) -> str:
        return self.detail


class SigningError(SigningServiceError):
    """The document was not signed; ``code`` says why (see ``docex.signing.pades``)."""

    def __init__(self, code: SigningErrorCode, detail: str) -> None:
        super().__init__(detail, code=code)
        self.code: SigningErrorCode = code
        self.args = (f"{code}: {detail}",)

    @property
    def kind(self) -> FailureKind:
        return _SIGNING_KINDS.get(self.code, "refused")


class KeyStoreError(SigningServiceError, RuntimeError):
    """A key cannot be used: its file is missing or will not decrypt, its token is down."""

    default_code = "key_unavailable"
    default_kind = "unavailable"

    @property
    def public_detail(self) -> str:
        return "the node's signing key is unavailable"


class PkiError(SigningServiceError, RuntimeError):
    """The PKI directory is missing, inconsistent, or its keys cannot be decrypted."""

    default_code = "pki_unavailable"
    default_kind = "unavailable"

    @property
    def public_detail(self) -> str:
        return "the node's certification authority is unavailable"


class JwsInvalid(SigningServiceError, ValueError):
    """A statement (JWS compact serialization) that is not ES256-signed by the key given
    (``docex.signing.jws.verify_es256``); its callers turn it into their own precise refusal."""

    default_code = "jws_invalid"
