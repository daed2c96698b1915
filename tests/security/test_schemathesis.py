"""The served OpenAPI document against the served node: schemathesis generates requests from
the contract and checks each answer (no 5xx, a status the contract lists, a body that matches
the listed schema). It runs against a real ``docex serve`` process with the demo network, as a
client on the network would see it, for a bounded number of examples per operation, in valid
(positive) and invalid (negative) forms, and prints a summary per operation.

Schemathesis's own pytest plugin does not run on this pytest, so the operations are driven
through its Python API with Hypothesis directly: one test walks every operation.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.result import Err

from tests.functional.conftest import NodeProcess

EXAMPLES = 20
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def live_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    node = NodeProcess(Path(tmp_path_factory.mktemp("schemathesis")) / "node")
    node.start("--demo")
    try:
        yield node
    finally:
        node.stop()


def _run(
    operation: schemathesis.APIOperation,
    mode: GenerationMode,
    node: NodeProcess,
    headers: dict[str, str],
    statuses: Counter[str],
) -> list[str]:
    failures: list[str] = []

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def check(case: schemathesis.Case) -> None:
        try:
            response = case.call_and_validate(
                base_url=node.url, headers=headers, checks=CHECKS, timeout=30
            )
            statuses[str(response.status_code)] += 1
        # Collect every operation's failures, then report them all at once (schemathesis
        # raises a BaseExceptionGroup of its findings).
        except (Exception, BaseExceptionGroup) as exc:
            failures.append(f"{operation.label} [{mode.value}]: {_describe(exc)}")

    try:
        check()
    except Unsatisfiable:
        # Nothing invalid can be made for an operation without parameters or body.
        if mode is not GenerationMode.NEGATIVE:
            raise
    return failures


def _describe(exc: BaseException) -> str:
    parts = [str(exc)]
    if isinstance(exc, BaseExceptionGroup):
        parts += [str(sub) for sub in exc.exceptions]
    return " | ".join(" ".join(part.split()) for part in parts)[:1200]


@pytest.mark.functional
def test_every_operation_answers_as_its_contract_says(live_node: NodeProcess) -> None:
    schema = schemathesis.openapi.from_url(f"{live_node.url}/openapi.json")
    clerk = live_node.credentials()["agencies"]["000.00.00.G22"]["clerk"]["token"]
    headers = {"Authorization": f"Bearer {clerk}"}
    failures: list[str] = []
    statuses: Counter[str] = Counter()
    operations = 0
    for result in schema.get_all_operations():
        if isinstance(result, Err):  # the document itself is broken: that is a failure too
            failures.append(f"invalid operation in the document: {result.err()}")
            continue
        operation = result.ok()
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            failures.extend(_run(operation, mode, live_node, headers, statuses))
    calls = sum(statuses.values())
    print(f"schemathesis: {operations} operations, {calls} calls, {dict(statuses)}")
    assert operations > 10
    assert not failures, "\n\n".join(dict.fromkeys(failures))
