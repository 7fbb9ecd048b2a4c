"""What ``import crs_sdk`` loads, and what it leaves for first use.

Each check runs in a fresh interpreter and looks at ``sys.modules``: deterministic, unlike a timing.
The import's time is the benchmark's business (``benchmarks/imports.py``).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from typing import Any

import pytest

import crs_sdk
import crs_sdk._models
from crs_sdk._base import RESOURCES

#: The modules that define models; ``crs_sdk._models._fields`` (validators, no classes) is not one.
MODEL_MODULES = frozenset(
    f"crs_sdk._models.{name}"
    for name in ("_common", "_encoding", "_events", "_evidence", "_reports", "_webhooks")
)
RESOURCE_MODULES = frozenset(
    f"crs_sdk._resources.{name}"
    for name in (
        "_events",
        "_evidence",
        "_filing",
        "_report_specs",
        "_reports",
        "_uploader",
        "_webhook_endpoints",
    )
)
#: Loaded on first use, never by ``import crs_sdk``.
DEFERRED = (
    MODEL_MODULES
    | RESOURCE_MODULES
    | {"cattrs", "tenacity", "asyncio", "crs_sdk._upload", "crs_sdk._tus", "crs_sdk._resume"}
)


def loaded_after(code: str) -> set[str]:
    """The modules of `DEFERRED` that a fresh interpreter has loaded after running ``code``."""
    script = textwrap.dedent(code) + textwrap.dedent(f"""
        import json, sys
        print(json.dumps(sorted(set(sys.modules) & set({sorted(DEFERRED)!r}))))
    """)
    out = subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-c", script], capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stderr
    return set(json.loads(out.stdout))


def test_import_loads_no_model_no_resource_and_no_cattrs() -> None:
    assert loaded_after("import crs_sdk") == set()


def test_making_a_client_loads_nothing_more() -> None:
    code = """
        import crs_sdk
        crs_sdk.CRSClient(base_url="http://crs.test", client_id="c", client_secret="s")
        crs_sdk.AsyncCRSClient(base_url="http://crs.test", client_id="c", client_secret="s")
    """
    assert loaded_after(code) == set()


def test_a_model_loads_its_module_and_what_it_uses() -> None:
    loaded = loaded_after("from crs_sdk import Report")
    assert loaded == {"crs_sdk._models._reports"}


def test_a_resource_loads_its_module_and_its_models() -> None:
    code = """
        import crs_sdk
        client = crs_sdk.CRSClient(base_url="http://crs.test", client_id="c", client_secret="s")
        client.reports
    """
    loaded = loaded_after(code)
    assert {"crs_sdk._resources._reports", "crs_sdk._models._reports"} <= loaded
    assert "cattrs" not in loaded
    assert "crs_sdk._upload" not in loaded  # until create_and_submit or client.evidence


def test_the_first_decode_loads_cattrs_and_every_model() -> None:
    code = """
        import crs_sdk
        crs_sdk.structure({"status": "ok"}, crs_sdk.Health)
    """
    loaded = loaded_after(code)
    assert {"cattrs", *MODEL_MODULES} <= loaded


@pytest.mark.parametrize("function", ["structure_event", "unstructure"])
def test_the_other_converter_functions_load_it_too(function: str) -> None:
    argument = '{"id": "evt_1", "type": "x.y", "timestamp": "2026-11-23T10:15:00Z", "data": {}}'
    code = f"import crs_sdk\ncrs_sdk.{function}({argument})\n"
    assert {"cattrs", *MODEL_MODULES} <= loaded_after(code)


def test_every_public_name_resolves_and_is_listed_in_a_fresh_interpreter() -> None:
    code = """
        import crs_sdk
        listed = dir(crs_sdk)
        missing = [name for name in crs_sdk.__all__ if name not in listed]
        assert missing == [], missing
        from crs_sdk import *
        unresolved = [name for name in crs_sdk.__all__ if name not in globals()]
        assert unresolved == [], unresolved
    """
    assert {"cattrs"} & loaded_after(code) == set()  # names resolve without the converter


@pytest.mark.parametrize("package", [crs_sdk, crs_sdk._models], ids=lambda p: p.__name__)
def test_every_lazy_name_resolves_to_its_defining_object(package: object) -> None:
    names = package.__all__  # type: ignore[attr-defined]
    assert set(names) <= set(dir(package))
    for name in names:
        value = getattr(package, name)
        assert value is getattr(package, name)  # kept: a second access is an ordinary one
        if isinstance(value, type):
            defining = sys.modules[value.__module__]
            assert getattr(defining, value.__name__) is value, name


def test_lazy_and_direct_imports_give_the_same_class() -> None:
    from crs_sdk._models._reports import Report

    assert crs_sdk.Report is Report
    assert crs_sdk._models.Report is Report


@pytest.mark.parametrize("package", [crs_sdk, crs_sdk._models], ids=lambda p: p.__name__)
def test_unknown_names_are_attribute_errors(package: object) -> None:
    with pytest.raises(AttributeError, match="has no attribute 'NoSuchModel'"):
        getattr(package, "NoSuchModel")  # noqa: B009 - the point is a dynamic lookup
    assert not hasattr(package, "NoSuchModel")


@pytest.mark.parametrize("client_class", [crs_sdk.CRSClient, crs_sdk.AsyncCRSClient])
def test_resources_are_made_once_and_copies_make_their_own(client_class: type[Any]) -> None:
    client = client_class(base_url="http://crs.test", client_id="c", client_secret="s")
    resources = [getattr(client, name) for name in RESOURCES]
    assert [getattr(client, name) for name in RESOURCES] == resources  # the same objects
    copy = client.with_options(timeout=1.0)
    for name, resource in zip(RESOURCES, resources, strict=True):
        assert type(getattr(copy, name)) is type(resource)
        assert getattr(copy, name) is not resource, name
