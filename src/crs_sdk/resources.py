"""The resource classes behind ``client.reports``, ``client.evidence``, ``client.events`` and
``client.webhook_endpoints``, for type annotations and the reference documentation.

You never build these yourself: a client creates them and exposes them as attributes.

.. versionadded:: 0.1.0
"""

from crs_sdk._resources._events import AsyncEvents, Events
from crs_sdk._resources._evidence import AsyncReportEvidence, ReportEvidence
from crs_sdk._resources._reports import AsyncReports, Reports
from crs_sdk._resources._webhook_endpoints import AsyncWebhookEndpoints, WebhookEndpoints

__all__ = [
    "AsyncEvents",
    "AsyncReportEvidence",
    "AsyncReports",
    "AsyncWebhookEndpoints",
    "Events",
    "ReportEvidence",
    "Reports",
    "WebhookEndpoints",
]
