"""The OpenAPI document: it loads, lists every endpoint with a tag, a summary and a description, and its bodies are the pydantic models."""

from __future__ import annotations

from tests.api.conftest import Api

ENDPOINTS = {
    ("post", "/recommendations"),
    ("get", "/recommendations"),
    ("get", "/recommendations/{key}"),
    ("post", "/recommendations/{key}/recommend"),
    ("post", "/recommendations/{key}/withdraw"),
    ("post", "/recommendations/{key}/consolidate"),
    *(
        ("post", f"/recommendations/{{key}}/parties/{{party}}/{step}")
        for step in ("prepare", "propose", "decide", "announce", "appeal", "settle", "report")
    ),
    ("get", "/recommendations/{key}/audit"),
    ("get", "/audit/log"),
    ("get", "/audit/verify"),
    ("get", "/deadlines"),
    ("get", "/outbox"),
    ("get", "/contacts"),
    ("get", "/scheduler/daemons"),
    ("put", "/contacts/{contact_id}"),
    ("get", "/whoami"),
}


def test_the_document_lists_every_endpoint(api: Api) -> None:
    """GET /openapi.json (no token needed) has every endpoint, each tagged and described."""
    response = api.client.get("/openapi.json")
    assert 200 == response.status_code
    document = response.json()
    assert document["openapi"].startswith("3.")
    operations = {(method, path): op for path, item in document["paths"].items() for method, op in item.items()}
    assert ENDPOINTS <= set(operations)
    for key in ENDPOINTS:
        operation = operations[key]
        assert operation.get("tags"), key
        assert operation.get("summary"), key
        assert operation.get("description"), key
        assert "401" in operation["responses"], key


def test_commands_take_pydantic_bodies_and_honour_if_match(api: Api) -> None:
    """Each command's body is a named schema with a required legal date; each conditional command reads If-Match."""
    document = api.client.get("/openapi.json").json()
    schemas = document["components"]["schemas"]
    for name in ("Propose", "OnDate", "Withdraw", "Prepare", "ProposeParty", "Decide", "Settle", "ContactIn"):
        assert name in schemas, name
    for name in ("Propose", "OnDate", "Withdraw", "Prepare", "ProposeParty", "Decide", "Settle"):
        assert "on" in schemas[name]["required"], name
        assert "date" == schemas[name]["properties"]["on"]["format"], name
    decide = document["paths"]["/recommendations/{key}/parties/{party}/decide"]["post"]
    assert "#/components/schemas/Decide" == decide["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert "if-match" in {p["name"].lower() for p in decide["parameters"]}
    assert {"HTTPBearer", "APIKeyCookie"} <= set(document["components"]["securitySchemes"])
