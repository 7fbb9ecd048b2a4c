"""The API's resources, one module each, with a sync and an async class sharing the pure parts."""

from crs_sdk._resources._events import AsyncEvents, Events
from crs_sdk._resources._evidence import AsyncReportEvidence, ReportEvidence
from crs_sdk._resources._pagination import AsyncPager, SyncPager
from crs_sdk._resources._reports import AsyncReports, Reports
from crs_sdk._resources._webhook_endpoints import AsyncWebhookEndpoints, WebhookEndpoints

__all__ = [
    "AsyncEvents",
    "AsyncPager",
    "AsyncReportEvidence",
    "AsyncReports",
    "AsyncWebhookEndpoints",
    "Events",
    "ReportEvidence",
    "Reports",
    "SyncPager",
    "WebhookEndpoints",
]
