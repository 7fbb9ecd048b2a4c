"""A problem's ``instance`` is a URI reference (RFC 9457 §3.1.5): the request path percent-encoded,
whatever the path's id holds (spaces, non-ASCII letters, a ``?`` or a ``%`` sent escaped)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING
from urllib.parse import quote, unquote

import pytest

from crs_mock._problems import MAX_PROBLEM_TEXT, path_reference
from mock.mock_support import assert_schema

if TYPE_CHECKING:
    from mock.mock_support import Agency

pytestmark = pytest.mark.anyio

#: RFC 3986 path-absolute: segments of pchar (unreserved, sub-delims, ":", "@", escapes).
_URI_PATH = re.compile(r"(/(?:[A-Za-z0-9\-._~!$&'()*+,;=:@]|%[0-9A-F]{2})*)+")


@pytest.mark.parametrize(
    ("sent", "instance"),
    [
        ("/v1/reports/rpt_a%20b%C3%A9", "/v1/reports/rpt_a%20b%C3%A9"),
        ("/v1/reports/rpt_a b\u20ac", "/v1/reports/rpt_a%20b%E2%82%AC"),
        ("/v1/reports/rpt_a%3Fb%23c", "/v1/reports/rpt_a%3Fb%23c"),
        ("/v1/reports/rpt_100%25", "/v1/reports/rpt_100%25"),
        ("/v1/reports/rpt_a%22%3C%3E", "/v1/reports/rpt_a%22%3C%3E"),
    ],
)
async def test_instance_is_the_percent_encoded_path(demo: Agency, sent: str, instance: str) -> None:
    answer = await demo.get(sent)
    assert answer.status_code == 404, answer.text
    problem = answer.json()
    assert_schema("Problem", problem)
    assert problem["instance"] == instance
    assert _URI_PATH.fullmatch(problem["instance"])


async def test_a_refused_method_names_the_encoded_path_too(demo: Agency) -> None:
    answer = await demo.client.put("/v1/reports/rpt_a b\u20ac", headers=demo.headers)
    assert answer.status_code == 405
    assert answer.json()["instance"] == "/v1/reports/rpt_a%20b%E2%82%AC"


@pytest.mark.parametrize("filler", ["x", "\u20ac", " x", "x\u20ac"])
@pytest.mark.parametrize("offset", range(4))
def test_a_long_path_is_cut_between_characters(filler: str, offset: int) -> None:
    path = "/v1/reports/" + "y" * offset + filler * 2_000 + "z" * offset
    full = quote(path)
    reference = path_reference(path)
    assert len(reference) <= MAX_PROBLEM_TEXT
    assert _URI_PATH.fullmatch(reference), reference
    head, ellipsis, tail = reference.partition("%E2%80%A6")
    assert ellipsis
    assert full.startswith(head)
    assert full.endswith(tail)
    assert len(head) > MAX_PROBLEM_TEXT // 2
    # Whole UTF-8 characters on both sides: each part decodes strictly, as the whole does.
    assert path.startswith(unquote(head, errors="strict"))
    assert path.endswith(unquote(tail, errors="strict"))
    assert unquote(reference, errors="strict")
