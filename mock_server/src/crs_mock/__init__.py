"""A local, stateful, persistent mock of the Content Reporting System (CRS) API.

For development and CI only; never for production. `create_app` builds the ASGI app (tests drive it
in-process with ``httpx.ASGITransport``); ``crs-mock serve`` runs it with uvicorn.

The names below are loaded on first access (PEP 562): pytest imports this package in every run
where it is installed, for its plugin (``crs_mock._pytest_plugin``), and a test suite that never
asks for a CRS fixture should not pay for importing Starlette, uvicorn and the SDK. (The SDK's own
``crs_sdk._lazy`` is not used here: importing it would import the SDK, and httpx with it.)

PYTEST_DONT_REWRITE: pytest rewrites the asserts of every package that ships a pytest plugin (ours
is ``crs_mock._pytest_plugin``); this marker keeps that from adding names to this namespace.
"""

import importlib as _importlib
import typing as _typing

from crs_mock._version import __version__

if _typing.TYPE_CHECKING:
    from crs_mock._app import create_app
    from crs_mock._clock import ReviewClock
    from crs_mock._faults import ActiveFault, FaultRule
    from crs_mock._journal import JournalEntry, JournalFilter
    from crs_mock._mock_control import FaultHandle, MockControl
    from crs_mock._platform import MockPlatform
    from crs_mock._process import ServerProcess
    from crs_mock._review import ReviewTimings, StageDelays
    from crs_mock._server import ThreadedServer
    from crs_mock._socket_faults import FaultableH11Protocol
    from crs_mock._transport import SyncASGITransport
    from crs_mock._transports import FaultingASGITransport, FaultingSyncASGITransport

__all__ = [
    "ActiveFault",
    "FaultHandle",
    "FaultRule",
    "FaultableH11Protocol",
    "FaultingASGITransport",
    "FaultingSyncASGITransport",
    "JournalEntry",
    "JournalFilter",
    "MockControl",
    "MockPlatform",
    "ReviewClock",
    "ReviewTimings",
    "ServerProcess",
    "StageDelays",
    "SyncASGITransport",
    "ThreadedServer",
    "__version__",
    "create_app",
]

#: Where each public name lives.
_MODULES = {
    "ActiveFault": "crs_mock._faults",
    "FaultHandle": "crs_mock._mock_control",
    "FaultRule": "crs_mock._faults",
    "FaultableH11Protocol": "crs_mock._socket_faults",
    "FaultingASGITransport": "crs_mock._transports",
    "FaultingSyncASGITransport": "crs_mock._transports",
    "JournalEntry": "crs_mock._journal",
    "JournalFilter": "crs_mock._journal",
    "MockControl": "crs_mock._mock_control",
    "MockPlatform": "crs_mock._platform",
    "ReviewClock": "crs_mock._clock",
    "ReviewTimings": "crs_mock._review",
    "ServerProcess": "crs_mock._process",
    "StageDelays": "crs_mock._review",
    "SyncASGITransport": "crs_mock._transport",
    "ThreadedServer": "crs_mock._server",
    "create_app": "crs_mock._app",
}


def __getattr__(name: str) -> object:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module 'crs_mock' has no attribute {name!r}")
    value = getattr(_importlib.import_module(module), name)
    globals()[name] = value  # the next access is an ordinary one
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_MODULES))
