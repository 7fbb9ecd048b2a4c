"""A local, stateful, persistent mock of the Content Reporting System (CRS) API.

For development and CI only; never for production. `create_app` builds the ASGI app (tests drive it
in-process with ``httpx.ASGITransport``); ``crs-mock serve`` runs it with uvicorn.

PYTEST_DONT_REWRITE: pytest rewrites the asserts of every package that ships a pytest plugin (ours
is ``crs_mock._pytest_plugin``); this marker keeps that from adding names to this namespace.
"""

from crs_mock._app import create_app
from crs_mock._clock import ReviewClock
from crs_mock._faults import ActiveFault, FaultRule
from crs_mock._journal import JournalEntry, JournalFilter
from crs_mock._mock_control import FaultHandle, MockControl
from crs_mock._platform import MockPlatform
from crs_mock._review import ReviewTimings, StageDelays
from crs_mock._server import ThreadedServer
from crs_mock._socket_faults import FaultableH11Protocol
from crs_mock._transport import SyncASGITransport
from crs_mock._transports import FaultingASGITransport, FaultingSyncASGITransport
from crs_mock._version import __version__

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
    "StageDelays",
    "SyncASGITransport",
    "ThreadedServer",
    "__version__",
    "create_app",
]
