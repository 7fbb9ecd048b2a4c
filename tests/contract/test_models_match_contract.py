"""The SDK's models and the contract agree: every example decodes, and re-encodes to valid JSON.

For each schema of the contract that the SDK models, every example of it (on the schema itself,
and on every request or response that uses it) is decoded with the SDK's converter into its model,
encoded back, and the result validated against the schema. Enums: every value the contract lists
is known to the SDK's enum, and the other way round.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import attrs
import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

import crs_sdk
from crs_sdk import Page, structure, structure_event, unstructure

DOCUMENT: dict[str, Any] = json.loads(
    (Path(__file__).parents[2] / "mock_server/src/crs_mock/openapi.json").read_text("utf-8")
)
SCHEMAS: dict[str, Any] = DOCUMENT["components"]["schemas"]
REGISTRY: Registry[Any] = Registry().with_resource(
    "urn:crs:contract", Resource.from_contents(DOCUMENT, default_specification=DRAFT202012)
)

MODELS: dict[str, Any] = {
    name: getattr(crs_sdk, name)
    for name in (
        *("Report", "ReportItem", "ItemDecision", "ReportDecision", "InfoRequest", "Appeal"),
        *("StatusChange", "LegalBasis", "Officer", "ReportCreate", "ReportItemCreate"),
        *("SubmitRequest", "WithdrawRequest", "ResponseCreate", "AppealRequest", "Evidence"),
        *("ReportEventData", "InfoRequestedEventData", "DecidedItem", "ReportDecidedEventData"),
        *("EvidenceReceivedEventData", "ReportEvent", "InfoRequestedEvent", "ReportDecidedEvent"),
        *("EvidenceReceivedEvent", "WebhookEndpointCreate", "WebhookEndpoint"),
        *("WebhookEndpointWithSecret", "RotateSecretRequest", "WebhookDelivery"),
        *("TokenResponse", "FieldError", "Problem", "Health"),
    )
} | {
    "ReportPage": Page[crs_sdk.Report],
    "EvidencePage": Page[crs_sdk.Evidence],
    "EventPage": Page[crs_sdk.Event],  # type: ignore[valid-type]
    "WebhookEndpointPage": Page[crs_sdk.WebhookEndpoint],
    "WebhookDeliveryPage": Page[crs_sdk.WebhookDelivery],
    "Event": "event",
}
ENUMS = [
    *("ReportStatus", "ItemOutcome", "Platform", "ContentType", "Category", "ViolationBasis"),
    *("RequestedAction", "Priority", "EvidenceRelevance", "EventType", "DeliveryStatus"),
    "ProblemCode",
]


def _examples_of(media: dict[str, Any]) -> list[Any]:
    found = [
        example["value"] for example in media.get("examples", {}).values() if "value" in example
    ]
    if "example" in media:
        found.append(media["example"])
    return found


def _cases() -> list[Any]:
    cases = []
    for name, schema in SCHEMAS.items():
        if name in MODELS:
            cases += [
                pytest.param(name, example, id=f"{name}-schema-{n}")
                for n, example in enumerate(schema.get("examples", []))
            ]
    for path, item in DOCUMENT["paths"].items():
        for method, operation in item.items():
            if not isinstance(operation, dict):
                continue
            bodies = [("request", operation.get("requestBody", {}))]
            bodies += [(status, r) for status, r in operation.get("responses", {}).items()]
            for where, unresolved in bodies:
                body = _resolve(unresolved)
                for media_type, media in body.get("content", {}).items():
                    name = media.get("schema", {}).get("$ref", "").rpartition("/")[2]
                    if name not in MODELS or "json" not in media_type:
                        continue
                    for n, example in enumerate(_examples_of(media)):
                        label = f"{name}-{method}-{path}-{where}-{n}"
                        cases.append(pytest.param(name, example, id=label))
    for event_type, item in DOCUMENT.get("webhooks", {}).items():
        media = _resolve(item["post"]["requestBody"])["content"]["application/json"]
        cases += [
            pytest.param("Event", example, id=f"webhook-{event_type}-{n}")
            for n, example in enumerate(_examples_of(media))
        ]
    return cases


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = DOCUMENT
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


CASES = _cases()


def test_every_modelled_schema_has_examples_checked() -> None:
    checked = {case.values[0] for case in CASES}
    assert checked >= set(MODELS) - {"Health"}


@pytest.mark.parametrize(("name", "example"), CASES)
def test_example_decodes_and_reencodes_to_valid_json(name: str, example: Any) -> None:
    model = MODELS[name]
    decoded = structure_event(example) if model == "event" else structure(example, model)
    encoded = json.loads(json.dumps(unstructure(decoded)))
    validator = Draft202012Validator(
        {"$ref": f"urn:crs:contract#/components/schemas/{name}"}, registry=REGISTRY
    )
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(encoded)]
    assert errors == []
    again = structure_event(encoded) if model == "event" else structure(encoded, model)
    assert again == decoded


@pytest.mark.parametrize("name", ENUMS)
def test_enums_match_the_contract(name: str) -> None:
    enum = getattr(crs_sdk, name)
    assert sorted(SCHEMAS[name]["enum"]) == sorted(member.value for member in enum)


@pytest.mark.parametrize("field", ["client_reference", "explanation"])
def test_request_models_refuse_the_characters_the_contract_refuses(field: str) -> None:
    """Over the first 256 code points, a single-line and a multi-line field of the SDK refuse
    exactly what their contract pattern refuses (the character in the middle of the value)."""
    pattern = re.compile(SCHEMAS["ReportCreate"]["properties"][field]["pattern"])
    report = structure(SCHEMAS["ReportCreate"]["examples"][0], crs_sdk.ReportCreate)
    for code in range(0x100):
        value = f"a{chr(code)}b"
        try:
            attrs.evolve(report, **{field: value})
        except crs_sdk.InvalidFieldError:
            refused = True
        else:
            refused = False
        assert refused == (pattern.search(value) is None), f"U+{code:04X}"
