"""The OpenAPI document is valid, self-consistent, and keeps the names the contract promises."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from jsonschema import Draft202012Validator, FormatChecker
from openapi_spec_validator import OpenAPIV31SpecValidator, validate
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from crs_mock._validation import MULTI_LINE, SINGLE_LINE, ecma_regex

if TYPE_CHECKING:
    from collections.abc import Iterator

ROOT = Path(__file__).parents[2]
DOCUMENT_PATH = ROOT / "mock_server/src/crs_mock/openapi.json"
CONTRACT_PROSE = ROOT / "docs/explanation/contract.md"
DOCUMENT: dict[str, Any] = json.loads(DOCUMENT_PATH.read_text(encoding="utf-8"))
BASE_URI = "urn:crs:openapi"
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

OPERATION_IDS = [
    "createReport",
    "listReports",
    "getReport",
    "submitReport",
    "withdrawReport",
    "respondToReport",
    "appealReport",
    "createEvidenceUpload",
    "listEvidence",
    "getUploadOffset",
    "appendUpload",
    "terminateUpload",
    "tusOptions",
    "createWebhookEndpoint",
    "listWebhookEndpoints",
    "getWebhookEndpoint",
    "deleteWebhookEndpoint",
    "rotateWebhookSecret",
    "disableWebhookEndpoint",
    "enableWebhookEndpoint",
    "listWebhookDeliveries",
    "retryWebhookDelivery",
]
SCHEMA_NAMES = [
    *("ReportCreate", "ReportItemCreate", "Report", "ReportItem", "LegalBasis", "Officer"),
    *("ItemDecision", "ReportDecision", "InfoRequest", "Appeal", "StatusChange"),
    *("SubmitRequest", "WithdrawRequest", "ResponseCreate", "AppealRequest", "Evidence"),
    *("Event", "ReportEventData", "InfoRequestedEventData", "ReportDecidedEventData"),
    *("DecidedItem", "EvidenceReceivedEventData", "ReportEvent", "InfoRequestedEvent"),
    *("ReportDecidedEvent", "EvidenceReceivedEvent", "WebhookEndpointCreate", "WebhookEndpoint"),
    *("WebhookEndpointWithSecret", "RotateSecretRequest", "WebhookDelivery", "TokenResponse"),
    *("Problem", "FieldError", "Health", "ReportPage", "EvidencePage", "EventPage"),
    *("WebhookEndpointPage", "WebhookDeliveryPage", "ClockState", "ClockAdvance"),
    *("DecisionForce", "InfoRequestForce", "ReportStatus", "ItemOutcome", "Platform"),
    *("ContentType", "Category", "ViolationBasis", "RequestedAction", "Priority"),
    *("EvidenceRelevance", "EventType", "DeliveryStatus", "ProblemCode"),
]
REQUEST_SCHEMAS = [
    *("ReportCreate", "ReportItemCreate", "SubmitRequest", "WithdrawRequest", "ResponseCreate"),
    *("AppealRequest", "WebhookEndpointCreate", "RotateSecretRequest", "ClockAdvance"),
    *("DecisionForce", "InfoRequestForce"),
]
RESPONSE_SCHEMAS = [
    *("Report", "ReportItem", "ItemDecision", "ReportDecision", "InfoRequest", "Appeal"),
    *("StatusChange", "Evidence", "WebhookEndpoint", "WebhookEndpointWithSecret"),
    *("WebhookDelivery", "TokenResponse", "Problem", "FieldError", "ReportPage", "EventPage"),
]
ABSENT = "<absent>"  # in test_conditional_rules: remove the field
UTC_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")


# --- walking the document -----------------------------------------------------------------


def escape(segment: str) -> str:
    return segment.replace("~", "~0").replace("/", "~1")


def resolve(node: dict[str, Any]) -> dict[str, Any]:
    """Follow a local ``$ref`` (components) to the object it names."""
    while "$ref" in node:
        target: Any = DOCUMENT
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = target
    return node


def operations() -> Iterator[tuple[str, str, str, dict[str, Any]]]:
    """(section, path or webhook name, method, operation) for every operation."""
    for section in ("paths", "webhooks"):
        for name, item in DOCUMENT.get(section, {}).items():
            for method in METHODS:
                if method in item:
                    yield section, name, method, item[method]


def parameters_of(path: str, operation: dict[str, Any]) -> list[dict[str, Any]]:
    shared = DOCUMENT["paths"].get(path, {}).get("parameters", [])
    return [resolve(p) for p in [*shared, *operation.get("parameters", [])]]


def examples_with_schema(node: Any, pointer: str) -> Iterator[tuple[str, str, Any]]:
    """(test id, schema pointer, value) for media types, parameters and headers with examples."""
    if isinstance(node, dict):
        if pointer == "/components/schemas":
            return
        if isinstance(node.get("schema"), dict):
            if "example" in node:
                yield pointer, f"{pointer}/schema", node["example"]
            for name, example in (node.get("examples") or {}).items():
                value = resolve(example)["value"]
                yield f"{pointer}/examples/{name}", f"{pointer}/schema", value
        for key, child in node.items():
            yield from examples_with_schema(child, f"{pointer}/{escape(key)}")
    elif isinstance(node, list):
        for index, child in enumerate(node):
            yield from examples_with_schema(child, f"{pointer}/{index}")


def all_examples() -> Iterator[Any]:
    for name, schema in DOCUMENT["components"]["schemas"].items():
        for index, value in enumerate(schema.get("examples", [])):
            pointer = f"/components/schemas/{name}"
            yield pytest.param(pointer, value, id=f"{pointer}/examples/{index}")
    for test_id, pointer, value in examples_with_schema(DOCUMENT, ""):
        yield pytest.param(pointer, value, id=test_id)


# --- the checks ---------------------------------------------------------------------------

REGISTRY: Registry[Any] = Registry().with_resource(BASE_URI, DRAFT202012.create_resource(DOCUMENT))
FORMATS = FormatChecker()


@FORMATS.checks("date-time", raises=ValueError)
def is_utc_timestamp(value: object) -> bool:
    """Stricter than RFC 3339: the contract's examples are all UTC with ``Z``."""
    if not isinstance(value, str):
        return True
    if not UTC_TIMESTAMP.match(value):
        raise ValueError(f"{value!r} is not an RFC 3339 UTC timestamp ending in Z")
    datetime.fromisoformat(value.replace("Z", "+00:00"))
    return True


def test_document_is_valid_openapi_3_1() -> None:
    assert DOCUMENT["openapi"].startswith("3.1.")
    validate(DOCUMENT, cls=OpenAPIV31SpecValidator)


def test_there_are_many_examples() -> None:
    assert len(list(all_examples())) > 100


@pytest.mark.parametrize(("schema_pointer", "value"), list(all_examples()))
def test_example_matches_its_schema(schema_pointer: str, value: Any) -> None:
    validator = Draft202012Validator(
        {"$ref": f"{BASE_URI}#{schema_pointer}"}, registry=REGISTRY, format_checker=FORMATS
    )
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(value)]
    assert not errors, "\n".join(errors)


def test_every_operation_has_a_unique_operation_id() -> None:
    ids = [operation.get("operationId") for *_, operation in operations()]
    assert all(ids)
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("operation_id", OPERATION_IDS)
def test_operation_named_in_the_contract_exists(operation_id: str) -> None:
    assert operation_id in {operation["operationId"] for *_, operation in operations()}


def test_operations_named_in_the_prose_exist() -> None:
    named = set(
        re.findall(
            r"^\| `([a-z]+[A-Z][A-Za-z]*)` \|", CONTRACT_PROSE.read_text("utf-8"), re.MULTILINE
        )
    )
    assert named >= set(OPERATION_IDS)
    assert named <= {operation["operationId"] for *_, operation in operations()}


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_schema_named_in_the_contract_exists(name: str) -> None:
    assert name in DOCUMENT["components"]["schemas"]


def test_every_error_response_is_a_problem() -> None:
    for _, name, method, operation in operations():
        for status, response in operation["responses"].items():
            if status[0] not in "45":
                continue
            content = resolve(response).get("content", {})
            assert list(content) == ["application/problem+json"], (name, method, status)
            schema = content["application/problem+json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/Problem"}, (name, method, status)


def test_every_v1_response_carries_a_request_id() -> None:
    for _, name, method, operation in operations():
        if name.startswith(("/v1/", "/oauth/")):
            for status, response in operation["responses"].items():
                assert "X-Request-Id" in resolve(response).get("headers", {}), (
                    name,
                    method,
                    status,
                )


def test_every_created_v1_resource_has_a_location() -> None:
    for _, name, method, operation in operations():
        if name.startswith("/v1/") and "201" in operation["responses"]:
            assert "Location" in resolve(operation["responses"]["201"])["headers"], (name, method)


def test_every_v1_post_accepts_an_idempotency_key() -> None:
    posts = [(n, o) for s, n, m, o in operations() if s == "paths" and m == "post"]
    v1_posts = [(name, op) for name, op in posts if name.startswith("/v1/")]
    assert len(v1_posts) == 11
    for name, operation in v1_posts:
        headers = {p["name"].lower() for p in parameters_of(name, operation) if p["in"] == "header"}
        assert "idempotency-key" in headers, name


def test_v1_operations_need_a_token_except_tus_discovery() -> None:
    for section, name, method, operation in operations():
        if section == "paths" and name.startswith("/v1/"):
            security = operation.get("security", DOCUMENT["security"])
            assert bool(security) == (method != "options"), (name, method)
    schemes = DOCUMENT["components"]["securitySchemes"]
    assert schemes["oauth2"]["flows"]["clientCredentials"]["tokenUrl"] == "/oauth/token"
    assert schemes["bearerAuth"] == {**schemes["bearerAuth"], "type": "http", "scheme": "bearer"}


def test_every_mock_operation_is_marked_mock_only() -> None:
    mock = [(n, o) for s, n, _, o in operations() if s == "paths" and n.startswith("/_mock/")]
    assert mock
    for name, operation in mock:
        assert operation["tags"] == ["mock-only"], name
        assert operation["x-mock-only"] is True, name
        assert operation["security"] == [], name
    for section, name, _, operation in operations():
        if not (section == "paths" and name.startswith("/_mock/")):
            assert "mock-only" not in operation["tags"], name


def test_one_webhook_per_event_type() -> None:
    event_types = DOCUMENT["components"]["schemas"]["EventType"]["enum"]
    assert list(DOCUMENT["webhooks"]) == event_types
    for name, item in DOCUMENT["webhooks"].items():
        headers = {resolve(p)["name"] for p in item["post"]["parameters"]}
        assert headers == {"webhook-id", "webhook-timestamp", "webhook-signature"}, name


def test_request_schemas_are_closed_and_response_schemas_open() -> None:
    schemas = DOCUMENT["components"]["schemas"]
    for name in REQUEST_SCHEMAS:
        assert schemas[name]["additionalProperties"] is False, name
    for name in RESPONSE_SCHEMAS:
        assert "additionalProperties" not in schemas[name], name
        assert set(schemas[name]["required"]) >= set(schemas[name]["properties"]) - {
            "errors",
            "current_status",
            "existing_report_id",
            "existing_evidence_id",
            "received_sha256",
            "header",
            "parameter",
            "retry_after",
            "error",
            "error_description",
        }, name


@pytest.mark.parametrize(
    ("schema", "value", "valid"),
    [
        pytest.param(
            "ReportCreate",
            {"violation_basis": "illegal_content", "legal_basis": []},
            False,
            id="illegal-content-needs-a-legal-basis",
        ),
        pytest.param(
            "ReportCreate",
            {"violation_basis": "both", "legal_basis": ABSENT},
            False,
            id="both-needs-a-legal-basis",
        ),
        pytest.param(
            "ReportCreate",
            {"violation_basis": "policy_violation", "legal_basis": ABSENT},
            True,
            id="policy-violation-needs-no-legal-basis",
        ),
        pytest.param(
            "ReportCreate",
            {"escalation_reason": ABSENT, "priority": "urgent"},
            False,
            id="urgent-needs-an-escalation-reason",
        ),
        pytest.param(
            "ReportCreate",
            {"escalation_reason": ABSENT, "priority": ABSENT},
            True,
            id="default-priority-needs-no-escalation-reason",
        ),
        pytest.param(
            "ReportCreate",
            {"priority": "high", "escalation_reason": None},
            False,
            id="escalation-reason-cannot-be-null-when-high",
        ),
        pytest.param(
            "ReportCreate", {"unexpected": 1}, False, id="unknown-request-fields-are-rejected"
        ),
        pytest.param(
            "ReportCreate",
            {"reporting_officer": {"name": "A. Officer", "email": "a@x.example", "phone": "1"}},
            False,
            id="unknown-nested-request-fields-are-rejected",
        ),
        pytest.param("Report", {"unexpected": 1}, True, id="unknown-response-fields-are-allowed"),
    ],
)
def test_conditional_rules(schema: str, value: dict[str, Any], valid: bool) -> None:
    """Each case changes the schema's first example; ``ABSENT`` removes the field."""
    instance = {**DOCUMENT["components"]["schemas"][schema]["examples"][0], **value}
    instance = {key: item for key, item in instance.items() if item != ABSENT}
    validator = Draft202012Validator(
        {"$ref": f"{BASE_URI}#/components/schemas/{schema}"}, registry=REGISTRY
    )
    assert validator.is_valid(instance) is valid


# --- control characters in request bodies ----------------------------------------------------

#: Multi-line text: TAB, LF and CR allowed. Every other string of a request body is single-line.
MULTI_LINE_FIELDS = {
    *("ReportCreate/explanation", "ReportCreate/escalation_reason", "LegalBasis/explanation"),
    *("WithdrawRequest/reason", "ResponseCreate/message", "AppealRequest/reason"),
    *("WebhookEndpointCreate/description", "DecisionForce/summary", "InfoRequestForce/question"),
}
#: C0 controls, DEL and C1 controls. (The strings inside the arbitrary `data` object of a mock-only
#: event are not constrained: it is an object schema, not a string one.)
CONTROL_CHARACTERS = [chr(code) for code in (*range(0x20), 0x7F, *range(0x80, 0xA0))]
#: A value each pattern accepts, to add a control character to.
PATTERN_SAMPLES = {
    SINGLE_LINE: "CP-2026-0001",
    MULTI_LINE: "First line.",
    r"^https?://[^\s\ufeff\u0000-\u001f\u007f-\u009f]+$": "https://www.instagram.com/p/C0dE5fGhIjK/",
    r"^/[^\u0000-\u001f\u007f-\u009f]*$": "/v1/reports",
    "^[A-Z]{2}$": "GB",
    "^[A-Z]{2}(-[A-Z0-9]{1,3})?$": "GB-SCT",
    "^evd_[A-Za-z0-9]+$": "evd_01JDB9X2Y3Z4A5B6C7D8E9F0GH",
    r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$": "report.escalated_to_law_enforcement",
}


def request_body_strings() -> dict[str, dict[str, Any]]:
    """Every free string schema (no enum or const) a JSON request body can hold, by
    ``<nearest named schema>/<property path>``."""
    found: dict[str, dict[str, Any]] = {}
    walked: set[str] = set()

    def walk(node: dict[str, Any], where: str) -> None:
        if "$ref" in node:
            name = node["$ref"].rpartition("/")[2]
            if name not in walked:
                walked.add(name)
                walk(resolve(node), name)
        types = node.get("type")
        is_string = types == "string" or (isinstance(types, list) and "string" in types)
        if is_string and "enum" not in node and "const" not in node:
            found[where] = node
        for key, child in node.get("properties", {}).items():
            walk(child, f"{where}/{key}")
        if isinstance(node.get("items"), dict):
            walk(node["items"], f"{where}/items")
        for key in ("anyOf", "oneOf", "allOf"):
            for branch in node.get(key, []):
                walk(branch, where)

    for section, name, method, operation in operations():
        media = resolve(operation.get("requestBody", {})).get("content", {})
        if section == "paths" and "application/json" in media:
            walk(media["application/json"]["schema"], f"{method} {name}")
    return found


def test_every_request_string_refuses_control_characters() -> None:
    strings = request_body_strings()
    assert set(strings) >= {
        "ReportCreate/client_reference",
        "ReportItemCreate/url",
        *MULTI_LINE_FIELDS,
    }
    for where, schema in strings.items():
        pattern = schema.get("pattern")
        if pattern is None and schema.get("format") == "date-time":
            continue  # the RFC 3339 grammar, checked in full, has no room for control characters
        assert pattern in PATTERN_SAMPLES, f"{where}: no known pattern refusing control characters"
        assert (pattern == MULTI_LINE) == (where in MULTI_LINE_FIELDS), where
        regex, sample = ecma_regex(pattern), PATTERN_SAMPLES[pattern]
        assert regex.search(sample), where
        for character in CONTROL_CHARACTERS:
            allowed = pattern == MULTI_LINE and character in "\t\n\r"
            for value in (sample + character, sample[:1] + character + sample[1:]):
                assert bool(regex.search(value)) == allowed, (where, value)
