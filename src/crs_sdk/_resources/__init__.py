"""The API's resources, one module each, with a sync and an async class sharing the pure parts.

``client.evidence`` and ``client.webhook_endpoints`` will join ``reports`` and ``events`` here.
"""

from crs_sdk._resources._events import AsyncEvents, Events
from crs_sdk._resources._pagination import AsyncPager, SyncPager
from crs_sdk._resources._reports import AsyncReports, Reports

__all__ = ["AsyncEvents", "AsyncPager", "AsyncReports", "Events", "Reports", "SyncPager"]
