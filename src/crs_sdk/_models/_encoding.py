"""Which models are encoded without the fields left at their default.

Requests are encoded without them (the server applies the same defaults); responses are encoded
with every field, ``null`` included, as the contract requires.
"""

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from crs_sdk._models._common import Problem
from crs_sdk._models._reports import (
    AppealRequest,
    ReportCreate,
    ReportItemCreate,
    ResponseCreate,
    SubmitRequest,
    WithdrawRequest,
)
from crs_sdk._models._webhooks import RotateSecretRequest, WebhookEndpointCreate

#: Models encoded without the fields that equal their default, each with the fields it always
#: carries: request bodies, and problems (whose kind-specific members are absent, not ``null``,
#: when they do not apply). LegalBasis and Officer are not here: they are part of the Report answer
#: too, where nullable fields are present.
OMIT_DEFAULTS: Final[Mapping[type, frozenset[str]]] = MappingProxyType(
    {
        AppealRequest: frozenset(),
        Problem: frozenset({"detail", "instance"}),
        ReportCreate: frozenset(),
        ReportItemCreate: frozenset(),
        ResponseCreate: frozenset(),
        RotateSecretRequest: frozenset(),
        SubmitRequest: frozenset(),
        WebhookEndpointCreate: frozenset(),
        WithdrawRequest: frozenset(),
    }
)
