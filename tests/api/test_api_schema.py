"""Schemathesis against the OpenAPI schema the server serves: generated requests, checked responses.

Each operation gets a bounded number of generated requests, valid ones and invalid ones (bodies,
paths, query strings); a response must never be a 5xx, and must match the status codes, content
types and bodies the schema declares. POST /discover is left out: it calls the configured providers.
"""

from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402 - schemathesis brings it: only once it is there
from hypothesis.errors import Unsatisfiable  # noqa: E402 - likewise

EXAMPLES = 12  # per operation and mode: the whole run stays well under a minute


def test_every_operation_keeps_its_schema(serve):
    api = serve(rate_per_s=10_000, burst=10_000)
    schema = schemathesis.openapi.from_url(f"{api.url}/openapi.json").exclude(path="/discover")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20
    failures = []
    for operation in operations:
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                      suppress_health_check=list(HealthCheck))
            def check(case):
                case.call_and_validate(base_url=api.url)

            try:
                check()
            except Unsatisfiable:
                pass  # nothing in the operation can be made invalid (no parameters, or any string goes)
            except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - one run reports every operation
                failures.append(f"{operation.label} ({mode.value}): {str(exc)[:2000]}")
    assert not failures, "\n\n".join(failures)
