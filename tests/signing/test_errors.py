"""docex.signing raises from one exception tree (docex.signing.errors), and the API maps each
kind of it to one HTTP status."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import docex.signing
from docex.api.errors import _SIGNING_ERRORS
from docex.signing.errors import (
    KeyStoreError,
    PkiError,
    SigningError,
    SigningServiceError,
)
from docex.signing.keystore import UnknownKeyError

# The key-encryption keys' errors (keks.py) are mapped by the storage layer to key_unavailable
# and stored_file_corrupt; they move with the keys package of issue 9.
OUTSIDE_THE_TREE = {"docex.signing.keks.KekError"}


def _exception_classes() -> dict[str, type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for module_info in pkgutil.walk_packages(docex.signing.__path__, "docex.signing."):
        module = importlib.import_module(module_info.name)
        for _, value in inspect.getmembers(module, inspect.isclass):
            if (
                issubclass(value, Exception)
                and not issubclass(value, Warning)
                and value.__module__.startswith("docex.signing")
            ):
                found[f"{value.__module__}.{value.__qualname__}"] = value
    return found


def test_every_exception_of_the_package_is_in_the_tree() -> None:
    classes = _exception_classes()
    assert "docex.signing.keystore.UnknownKeyError" in classes  # the walk sees the modules
    roots = {
        name
        for name, cls in classes.items()
        if not issubclass(cls, SigningServiceError)
        and not any(name != other and issubclass(cls, classes[other]) for other in OUTSIDE_THE_TREE)
    }
    assert roots == OUTSIDE_THE_TREE


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (SigningError("unknown_key", "no such key"), 404, "unknown_key"),
        (SigningError("not_a_pdf", "no header"), 415, "not_a_pdf"),
        (SigningError("encrypted_pdf", "encrypted"), 422, "encrypted_pdf"),
        (SigningError("timestamp_unavailable", "TSA down"), 503, "timestamp_unavailable"),
        (SigningError("key_unavailable", "token down"), 503, "key_unavailable"),
        (KeyStoreError("/secret/path: bad passphrase"), 503, "key_unavailable"),
        (UnknownKeyError("node"), 503, "key_unavailable"),
        (PkiError("no PKI at /data/pki"), 503, "pki_unavailable"),
    ],
)
def test_each_kind_maps_to_one_status(error: SigningServiceError, status: int, code: str) -> None:
    mapped = _SIGNING_ERRORS[error.kind](error.public_detail, code=error.code)
    assert (mapped.status, mapped.code) == (status, code)
    if status == 503 and not isinstance(error, SigningError):
        assert "/" not in mapped.detail  # a key or the PKI: never how, never where
