"""The published API against code we did not write: schemathesis generates requests from ``/openapi.json``
and checks each answer — never a server error, and a body that conforms to the response schema the
operation documents.

Bounded for CI: at most 8 examples per operation (23 operations today), no deadline (a shared 2-core
machine is slow at times, and time is never what this test checks), and derandomized so a run is
reproducible. The whole module takes well under 3 minutes on that machine (about 20 s when it is quiet).

The app runs in-process (``schemathesis.openapi.from_asgi``); schemathesis starts its lifespan (the node and
the e-portfolio) in its own event loop, and the module stops it at the end. Requests carry an institution
API token and a pupil's session, so the operations behind authentication are reached, not only their 401.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance
from schemathesis.errors import FailureGroup
from schemathesis.python.asgi import shutdown_lifespans

from portfolio_api.web import SESSION_COOKIE
from tests.portfolio.helpers import PASSWORD, PEOPLE, make_env

CHECKS = [not_a_server_error, response_schema_conformance]


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    app, _ = make_env(tmp_path_factory.mktemp("schemathesis"))
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)  # starts the app's lifespan
    try:
        svc = app.state.portfolio
        users = {who: svc.accounts.create(email, PASSWORD, name, role, inst) for who, (email, name, role, inst) in PEOPLE.items()}
        token = svc.admin.create_token(users["olymp_admin"], "schemathesis")
        # The token acts for the institution (and spares the CSRF header); the session is a pupil's, for her routes.
        session = svc.accounts.open_session(users["maria"].id)
        yield {"schema": schema, "headers": {"Authorization": f"Bearer {token}", "Cookie": f"{SESSION_COOKIE}={session}"}}
    finally:
        shutdown_lifespans()


def _exercise(operation: Any, headers: dict[str, str]) -> None:
    @given(operation.as_strategy())
    @settings(max_examples=8, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck), database=None)
    def each(case: Any) -> None:
        case.call_and_validate(headers=headers, checks=CHECKS)

    each()


def test_no_operation_answers_a_server_error_or_breaks_its_response_schema(api):
    # Schemathesis's pytest plugin (schema.parametrize over a fixture) does not run under pytest 9 yet: the
    # operations are driven here through its documented strategies instead, one hypothesis run each.
    failures, operations = [], 0
    for result in api["schema"].get_all_operations():
        operation = result.ok()
        operations += 1
        try:
            _exercise(operation, api["headers"])
        except (Exception, FailureGroup) as e:  # hypothesis re-raises the failing example's error; checks raise a group
            failures.append(f"{operation.method.upper()} {operation.path}: {e}")
    assert operations >= 20  # the published API, not an empty schema
    assert not failures, "\n\n".join(failures)
