"""``client.webhook_endpoints``: register, inspect and manage webhook endpoints, for both clients.

The signing secret comes back only from `create` and `rotate_secret`, in a
`WebhookEndpointWithSecret` whose ``repr()`` leaves it out; store it at once. Every write takes
``idempotency_key=`` (a fresh one by default, the same for every attempt of the call).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from crs_sdk._arguments import page_size_params, path_segment
from crs_sdk._converter import unstructure
from crs_sdk._models import (
    Page,
    RotateSecretRequest,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEndpointCreate,
    WebhookEndpointWithSecret,
)
from crs_sdk._requests import RequestSpec
from crs_sdk._resources._pagination import AsyncPager, SyncPager
from crs_sdk._responses import decode_json

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    import httpx

__all__ = ["AsyncWebhookEndpoints", "WebhookEndpoints"]

_ROOT = "/webhook-endpoints"


def _path(endpoint_id: str, action: str = "") -> str:
    return f"{_ROOT}/{path_segment(endpoint_id, 'endpoint_id')}{action}"


def _list_spec(path: str, cursor: str | None, page_size: int | None) -> RequestSpec:
    params: list[tuple[str, str | int]] = [*page_size_params(page_size)]
    if cursor is not None:
        params.append(("cursor", cursor))
    return RequestSpec("GET", path, params=tuple(params))


def _delete(endpoint_id: str, idempotency_key: str | None) -> RequestSpec:
    return RequestSpec.write(_path(endpoint_id), idempotency_key=idempotency_key, method="DELETE")


def _create(endpoint: WebhookEndpointCreate, idempotency_key: str | None) -> RequestSpec:
    if not isinstance(endpoint, WebhookEndpointCreate):
        raise TypeError(f"expected a WebhookEndpointCreate, got {type(endpoint).__name__}")
    return RequestSpec.write(_ROOT, unstructure(endpoint), idempotency_key=idempotency_key)


def _rotate(
    endpoint_id: str, grace_period_seconds: int | None, idempotency_key: str | None
) -> RequestSpec:
    body = (
        None
        if grace_period_seconds is None
        else unstructure(RotateSecretRequest(grace_period_seconds=grace_period_seconds))
    )
    return RequestSpec.write(
        _path(endpoint_id, "/rotate-secret"), body, idempotency_key=idempotency_key
    )


def _action(endpoint_id: str, action: str, idempotency_key: str | None) -> RequestSpec:
    return RequestSpec.write(_path(endpoint_id, action), idempotency_key=idempotency_key)


def _retry_delivery(endpoint_id: str, delivery_id: str, idempotency_key: str | None) -> RequestSpec:
    action = f"/deliveries/{path_segment(delivery_id, 'delivery_id')}/retry"
    return _action(endpoint_id, action, idempotency_key)


def _endpoint(response: httpx.Response) -> WebhookEndpoint:
    return decode_json(response, WebhookEndpoint)


def _with_secret(response: httpx.Response) -> WebhookEndpointWithSecret:
    return decode_json(response, WebhookEndpointWithSecret)


def _delivery(response: httpx.Response) -> WebhookDelivery:
    return decode_json(response, WebhookDelivery)


def _endpoints_page(response: httpx.Response) -> Page[WebhookEndpoint]:
    return decode_json(response, Page[WebhookEndpoint])


def _deliveries_page(response: httpx.Response) -> Page[WebhookDelivery]:
    return decode_json(response, Page[WebhookDelivery])


class WebhookEndpoints:
    """The agency's webhook endpoints (``client.webhook_endpoints`` of a `CRSClient`)."""

    def __init__(self, request: Callable[[RequestSpec], httpx.Response]) -> None:
        self._request = request

    def create(
        self, endpoint: WebhookEndpointCreate, *, idempotency_key: str | None = None
    ) -> WebhookEndpointWithSecret:
        """Register an endpoint; the answer carries its signing secret, shown only now."""
        return _with_secret(self._request(_create(endpoint, idempotency_key)))

    def list(self, *, page_size: int | None = None) -> SyncPager[WebhookEndpoint]:
        """Every endpoint of the agency, fetched page by page as you iterate."""
        _list_spec(_ROOT, None, page_size)
        return SyncPager(
            lambda cursor: _endpoints_page(self._request(_list_spec(_ROOT, cursor, page_size)))
        )

    def get(self, endpoint_id: str) -> WebhookEndpoint:
        """The endpoint ``endpoint_id`` (its secret is never shown again)."""
        return _endpoint(self._request(RequestSpec("GET", _path(endpoint_id))))

    def delete(self, endpoint_id: str, *, idempotency_key: str | None = None) -> None:
        """Delete the endpoint; deliveries to it stop.

        Sent with an idempotency key (the caller's, or a fresh one) reused by its retries: a retry
        after an answer lost on the way is answered with the first ``204``, not a ``404``.
        """
        self._request(_delete(endpoint_id, idempotency_key))

    def rotate_secret(
        self,
        endpoint_id: str,
        *,
        grace_period_seconds: int | None = None,
        idempotency_key: str | None = None,
    ) -> WebhookEndpointWithSecret:
        """Replace the signing secret; the old one also signs for ``grace_period_seconds``.

        The server's default grace period is one day.
        """
        spec = _rotate(endpoint_id, grace_period_seconds, idempotency_key)
        return _with_secret(self._request(spec))

    def disable(self, endpoint_id: str, *, idempotency_key: str | None = None) -> WebhookEndpoint:
        """Pause deliveries to the endpoint.

        Attempts already pending are held, not cancelled; events that happen while it is disabled
        are not delivered to it (they stay in the event log, `client.events`).
        """
        return _endpoint(self._request(_action(endpoint_id, "/disable", idempotency_key)))

    def enable(self, endpoint_id: str, *, idempotency_key: str | None = None) -> WebhookEndpoint:
        """Resume deliveries to the endpoint: the attempts held while it was disabled are due at
        once, and their retry schedule carries on from now."""
        return _endpoint(self._request(_action(endpoint_id, "/enable", idempotency_key)))

    def deliveries(
        self, endpoint_id: str, *, page_size: int | None = None
    ) -> SyncPager[WebhookDelivery]:
        """Every delivery attempt to the endpoint, with status code and timing."""
        path = _path(endpoint_id, "/deliveries")
        _list_spec(path, None, page_size)
        return SyncPager(
            lambda cursor: _deliveries_page(self._request(_list_spec(path, cursor, page_size)))
        )

    def retry_delivery(
        self, endpoint_id: str, delivery_id: str, *, idempotency_key: str | None = None
    ) -> WebhookDelivery:
        """Deliver the event of ``delivery_id`` again now; returns the new attempt."""
        spec = _retry_delivery(endpoint_id, delivery_id, idempotency_key)
        return _delivery(self._request(spec))


class AsyncWebhookEndpoints:
    """The agency's webhook endpoints (``client.webhook_endpoints`` of an `AsyncCRSClient`)."""

    def __init__(self, request: Callable[[RequestSpec], Awaitable[httpx.Response]]) -> None:
        self._request = request

    async def create(
        self, endpoint: WebhookEndpointCreate, *, idempotency_key: str | None = None
    ) -> WebhookEndpointWithSecret:
        """Register an endpoint (see `WebhookEndpoints.create`)."""
        return _with_secret(await self._request(_create(endpoint, idempotency_key)))

    def list(self, *, page_size: int | None = None) -> AsyncPager[WebhookEndpoint]:
        """Every endpoint, for ``async for`` (no ``await`` first)."""
        _list_spec(_ROOT, None, page_size)

        async def fetch(cursor: str | None) -> Page[WebhookEndpoint]:
            return _endpoints_page(await self._request(_list_spec(_ROOT, cursor, page_size)))

        return AsyncPager(fetch)

    async def get(self, endpoint_id: str) -> WebhookEndpoint:
        """The endpoint ``endpoint_id``."""
        return _endpoint(await self._request(RequestSpec("GET", _path(endpoint_id))))

    async def delete(self, endpoint_id: str, *, idempotency_key: str | None = None) -> None:
        """Delete the endpoint (see `WebhookEndpoints.delete`)."""
        await self._request(_delete(endpoint_id, idempotency_key))

    async def rotate_secret(
        self,
        endpoint_id: str,
        *,
        grace_period_seconds: int | None = None,
        idempotency_key: str | None = None,
    ) -> WebhookEndpointWithSecret:
        """Replace the signing secret (see `WebhookEndpoints.rotate_secret`)."""
        spec = _rotate(endpoint_id, grace_period_seconds, idempotency_key)
        return _with_secret(await self._request(spec))

    async def disable(
        self, endpoint_id: str, *, idempotency_key: str | None = None
    ) -> WebhookEndpoint:
        """Pause deliveries to the endpoint (see `WebhookEndpoints.disable`)."""
        return _endpoint(await self._request(_action(endpoint_id, "/disable", idempotency_key)))

    async def enable(
        self, endpoint_id: str, *, idempotency_key: str | None = None
    ) -> WebhookEndpoint:
        """Resume deliveries to the endpoint: the attempts held while it was disabled are due at
        once, and their retry schedule carries on from now."""
        return _endpoint(await self._request(_action(endpoint_id, "/enable", idempotency_key)))

    def deliveries(
        self, endpoint_id: str, *, page_size: int | None = None
    ) -> AsyncPager[WebhookDelivery]:
        """Every delivery attempt to the endpoint, for ``async for``."""
        path = _path(endpoint_id, "/deliveries")
        _list_spec(path, None, page_size)

        async def fetch(cursor: str | None) -> Page[WebhookDelivery]:
            return _deliveries_page(await self._request(_list_spec(path, cursor, page_size)))

        return AsyncPager(fetch)

    async def retry_delivery(
        self, endpoint_id: str, delivery_id: str, *, idempotency_key: str | None = None
    ) -> WebhookDelivery:
        """Deliver the event of ``delivery_id`` again now (see `WebhookEndpoints`)."""
        spec = _retry_delivery(endpoint_id, delivery_id, idempotency_key)
        return _delivery(await self._request(spec))
