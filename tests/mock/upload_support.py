"""Helpers for the evidence upload tests: tus headers, and an agency that speaks tus."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from mock.mock_support import AGENCIES, report_body

if TYPE_CHECKING:
    from mock.mock_support import Agency

CHUNK = 64 * 1024
TUS = {"Tus-Resumable": "1.0.0"}
OCTETS = "application/offset+octet-stream"


def tus_http(base_url: str, client_id: str = "demo-agency") -> httpx.Client:
    """A client of a server on a real socket, as the demo agency (or another of `AGENCIES`),
    sending ``Tus-Resumable``."""
    token = httpx.post(
        f"{base_url}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(client_id, AGENCIES[client_id]),
    )
    token.raise_for_status()
    headers = {"Authorization": f"Bearer {token.json()['access_token']}", **TUS}
    return httpx.Client(base_url=base_url, headers=headers, timeout=60)


def start_upload(http: httpx.Client, data: bytes, reference: str) -> tuple[str, str]:
    """A new report (`reference`) and an upload of `data` to it: the report's id, the location."""
    report = http.post("/v1/reports", json=report_body(client_reference=reference)).json()
    created = http.post(
        f"/v1/reports/{report['id']}/evidence",
        headers={"Upload-Length": str(len(data)), "Upload-Metadata": metadata_for(data)},
    )
    assert created.status_code == 201, created.text
    return report["id"], created.headers["location"]


def finish_upload(http: httpx.Client, location: str, data: bytes) -> httpx.Response:
    """Send the rest of `data` from the offset ``HEAD`` reports; the (successful) last answer."""
    offset = int(http.head(location).headers["upload-offset"])
    last = http.patch(
        location,
        content=data[offset:],
        headers={"Upload-Offset": str(offset), "Content-Type": OCTETS},
    )
    assert last.status_code == 204, last.text
    return last


def encode_metadata(values: dict[str, str | None]) -> str:
    """An ``Upload-Metadata`` value (keys with a None value are left out)."""
    return ",".join(
        f"{key} {base64.b64encode(value.encode()).decode()}"
        for key, value in values.items()
        if value is not None
    )


def metadata_for(data: bytes, **overrides: str | None) -> str:
    values: dict[str, str | None] = {
        "filename": "capture.png",
        "content_type": "image/png",
        "sha256": hashlib.sha256(data).hexdigest(),
        "relevance": "primary",
    }
    values.update(overrides)
    return encode_metadata(values)


def checksum(algorithm: str, chunk: bytes) -> str:
    digest = hashlib.new(algorithm, chunk).digest()
    return f"{algorithm} {base64.b64encode(digest).decode()}"


def assert_tus(response: httpx.Response) -> httpx.Response:
    assert response.headers.get("tus-resumable") == "1.0.0", (response.status_code, response.text)
    return response


@dataclass
class TusAgency:
    """An `Agency` that uploads evidence with tus; every answer must carry ``Tus-Resumable``."""

    agency: Agency

    @property
    def client(self) -> httpx.AsyncClient:
        return self.agency.client

    def headers(self, **extra: str) -> dict[str, str]:
        return {**self.agency.headers, **TUS, **extra}

    async def create(
        self, report_id: str, data: bytes, *, length: int | None = None, **metadata: Any
    ) -> httpx.Response:
        headers = self.headers(
            **{
                "Upload-Length": str(len(data) if length is None else length),
                "Upload-Metadata": metadata_for(data, **metadata),
            }
        )
        response = await self.client.post(f"/v1/reports/{report_id}/evidence", headers=headers)
        return assert_tus(response)

    async def start(self, report_id: str, data: bytes, **metadata: Any) -> str:
        """A new upload's path."""
        response = await self.create(report_id, data, **metadata)
        assert response.status_code == 201, response.text
        return response.headers["location"]

    async def patch(
        self, location: str, offset: int, chunk: bytes, **headers: str
    ) -> httpx.Response:
        response = await self.client.patch(
            location,
            content=chunk,
            headers=self.headers(
                **{"Upload-Offset": str(offset), "Content-Type": OCTETS}, **headers
            ),
        )
        return assert_tus(response)

    async def head(self, location: str) -> httpx.Response:
        response = await self.client.head(location, headers=self.headers())
        assert response.headers["cache-control"] == "no-store"
        return assert_tus(response)

    async def send(self, location: str, data: bytes, *, chunk: int = CHUNK) -> httpx.Response:
        """PATCH `data` in chunks from offset 0; the last answer."""
        response = None
        for offset in range(0, len(data), chunk):
            response = await self.patch(location, offset, data[offset : offset + chunk])
            assert response.status_code == 204, response.text
            assert response.headers["upload-offset"] == str(min(offset + chunk, len(data)))
        assert response is not None
        return response

    async def upload(self, report_id: str, data: bytes, **metadata: Any) -> str:
        """Upload `data` whole; the evidence id."""
        location = await self.start(report_id, data, **metadata)
        return (await self.send(location, data)).headers["evidence-id"]

    async def evidence(self, report_id: str) -> list[dict[str, Any]]:
        response = await self.agency.get(f"/v1/reports/{report_id}/evidence")
        assert response.status_code == 200, response.text
        data: list[dict[str, Any]] = response.json()["data"]
        return data
