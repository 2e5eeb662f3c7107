"""The pagers' own request schemas (``../shared/specs``), ready to validate a body against.

The specs are the vendors' files beside the checkout (see shared/specs/README.md): PagerDuty
Events v2 (OpenAPI 3.0: enqueue and change events) and Opsgenie (Swagger 2.0). Both refer
into their own document (``#/components/…``, ``#/definitions/…``), which a bare JSON Schema
validator cannot follow, so :func:`inline` resolves the references first. The schemas allow
extra properties, so a misspelt field would pass them: :func:`check` also compares the body's
keys with what the schema declares. Tests skip (with this reason) when shared/ is absent.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SPECS = Path(__file__).resolve().parents[2].parent / "shared" / "specs"
PAGERDUTY_SPEC = SPECS / "pagerduty-events-v2.openapi.json"
OPSGENIE_SPEC = SPECS / "opsgenie.swagger.json"
ALERTMANAGER_SPEC = SPECS / "alertmanager-v2.openapi.yaml"
MISSING = "../shared/specs (the vendors' API specs) is not beside the checkout"


def present() -> bool:
    return PAGERDUTY_SPEC.exists() and OPSGENIE_SPEC.exists()


def inline(node: Any, document: dict[str, Any], seen: tuple[str, ...] = ()) -> Any:
    """``node`` with every local ``$ref`` replaced by what it points to in ``document``.

    A reference already being inlined further up (a recursive schema) becomes ``{}``.
    """
    if isinstance(node, list):
        return [inline(item, document, seen) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        if ref in seen:
            return {}
        target: Any = document
        for step in ref[2:].split("/"):
            target = target[step.replace("~1", "/").replace("~0", "~")]
        return inline(target, document, (*seen, ref))
    return {key: inline(value, document, seen) for key, value in node.items()}


def declared(schema: dict[str, Any]) -> set[str]:
    """The property names a schema declares, through ``allOf``."""
    names = set(schema.get("properties", {}))
    for part in schema.get("allOf", []):
        names |= declared(part)
    return names


def check(body: Any, schema: dict[str, Any]) -> None:
    """Valid by the schema (OpenAPI 3.0 / Swagger 2 are draft 4) and no undeclared field."""
    import jsonschema

    jsonschema.Draft4Validator(schema).validate(body)
    assert set(body) <= declared(schema), f"undeclared fields {set(body) - declared(schema)}"


def pagerduty() -> dict[str, dict[str, Any]]:
    """Request body schemas by path: ``/enqueue`` and ``/change/enqueue``."""
    document = json.loads(PAGERDUTY_SPEC.read_text())
    return {path: inline(document["paths"][path]["post"]["requestBody"]["content"]
                         ["application/json"]["schema"], document)
            for path in ("/enqueue", "/change/enqueue")}


def opsgenie() -> dict[str, Any]:
    """Create and close body schemas, and the alias identifier type's enum."""
    document = json.loads(OPSGENIE_SPEC.read_text())

    def body_of(path: str) -> dict[str, Any]:
        [param] = [p for p in document["paths"][path]["post"]["parameters"]
                   if p.get("in") == "body"]
        return inline(param["schema"], document)

    return {"create": body_of("/v2/alerts"), "close": body_of("/v2/alerts/{identifier}/close"),
            "identifierType": inline(document["parameters"]["AlertIdentifierType"], document)}


def alertmanager() -> dict[str, Any]:
    """``postableAlerts`` (Swagger 2.0 definitions, read with PyYAML) as a whole schema."""
    import yaml

    spec = yaml.safe_load(ALERTMANAGER_SPEC.read_text())
    return {"$ref": "#/definitions/postableAlerts", "definitions": spec["definitions"]}
