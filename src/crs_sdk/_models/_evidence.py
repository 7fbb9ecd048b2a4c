"""Evidence attached to a report (uploaded with the tus protocol; only metadata comes back)."""

from datetime import datetime

import attrs

from crs_sdk._enums import EvidenceRelevance


@attrs.frozen(kw_only=True)
class Evidence:
    """A finished piece of evidence. Its bytes are never served back, only this metadata.

    Attributes:
        id: ``evd_...``
        report_id: The report it belongs to.
        filename: The file name given at upload.
        content_type: The media type given at upload.
        size: Size in bytes.
        sha256: Lower-case hex SHA-256 of the bytes, computed by the server.
        relevance: Primary or supporting.
        captured_at: When the evidence was captured, if given.
        received_at: When the upload finished.
    """

    id: str
    report_id: str
    filename: str
    content_type: str
    size: int
    sha256: str
    relevance: EvidenceRelevance
    captured_at: datetime | None
    received_at: datetime
