"""A local, stateful, persistent mock of the Content Reporting System (CRS) API.

For development and CI only; never for production. `create_app` builds the ASGI app (tests drive it
in-process with ``httpx.ASGITransport``); ``crs-mock serve`` runs it with uvicorn.
"""

from crs_mock._app import create_app
from crs_mock._clock import ReviewClock
from crs_mock._platform import MockPlatform
from crs_mock._review import ReviewTimings, StageDelays
from crs_mock._transport import SyncASGITransport
from crs_mock._version import __version__

__all__ = [
    "MockPlatform",
    "ReviewClock",
    "ReviewTimings",
    "StageDelays",
    "SyncASGITransport",
    "__version__",
    "create_app",
]
