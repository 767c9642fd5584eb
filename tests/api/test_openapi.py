"""The OpenAPI document loads, lists every endpoint, documents the error format and keeps secrets write-only."""

from __future__ import annotations

import pytest
from django.test import Client

EXPECTED = {
    "/api/health": {"get"},
    "/api/sites": {"get", "post"},
    "/api/sites/{site_id}": {"get", "patch", "delete"},
    "/api/connections": {"get", "post"},
    "/api/connections/{connection_id}": {"get", "patch", "delete"},
    "/api/connections/{connection_id}/start": {"post"},
    "/api/connections/{connection_id}/stop": {"post"},
    "/api/connections/{connection_id}/events": {"get"},
    "/api/connections/{connection_id}/sparkplug": {"get"},
    "/api/topics": {"get"},
    "/api/topics/{topic_id}": {"get", "patch"},
    "/api/topics/{topic_id}/raw": {"get"},
    "/api/topics/{topic_id}/reparse": {"post"},
    "/api/topics/{topic_id}/reparse/dry-run": {"post"},
    "/api/topics/{topic_id}/reparse-jobs": {"get"},
    "/api/reparse-jobs/{job_id}": {"get"},
    "/api/reparse-jobs/{job_id}/cancel": {"post"},
    "/api/readings": {"get"},
    "/api/series": {"get"},
    "/api/parsing-errors": {"get"},
    "/api/dead-letters": {"get"},
    "/api/dead-letters/replay": {"post"},
    "/api/dead-letters/{dead_letter_id}": {"get"},
    "/api/dead-letters/{dead_letter_id}/payload": {"get"},
    "/api/dead-letters/{dead_letter_id}/replay": {"post"},
    "/api/parsers": {"get"},
    "/api/parsers/{name}/test": {"post"},
    "/api/tokens": {"get", "post"},
    "/api/audit": {"get"},
    "/api/tokens/{token_id}": {"delete"},
    "/api/sites/{site_id}/tokens": {"get"},
    "/api/alert-rules": {"get", "post"},
    "/api/alert-rules/{rule_id}": {"get", "patch", "delete"},
    "/api/alert-rules/{rule_id}/test": {"post"},
    "/api/alerts": {"get"},
    "/api/alerts/{alert_id}": {"get"},
    "/api/alerts/{alert_id}/acknowledge": {"post"},
}


@pytest.fixture(scope="module")
def document() -> dict:
    # Built once for the module (about a second on a busy machine); an anonymous request needs no database.
    response = Client().get("/api/openapi.json")
    assert response.status_code == 200
    return response.json()


def test_the_document_lists_every_endpoint(document):
    assert {path: set(ops) for path, ops in document["paths"].items()} == EXPECTED


def test_every_protected_operation_documents_auth_and_the_error_format(document):
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if path == "/api/health":
                assert "security" not in operation
                continue
            assert operation["security"], (method, path)
            error = operation["responses"]["401"]["content"]["application/json"]["schema"]["$ref"]
            assert error.endswith("/ErrorOut"), (method, path)


def test_secrets_are_write_only_in_the_schema(document):
    schemas = document["components"]["schemas"]
    assert schemas["ConnectionPatch"]["properties"]["password"]["anyOf"][0]["writeOnly"] is True
    assert "password" not in schemas["ConnectionOut"]["properties"]
    assert "client_key" not in schemas["TlsOut"]["properties"]
    assert set(schemas["ErrorOut"]["properties"]) == {"detail", "errors"}


def test_the_interactive_docs_page_loads():
    assert Client().get("/api/docs").status_code == 200
