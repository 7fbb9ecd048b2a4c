"""One upload in a fresh process, so that its peak RSS is its own.

Run as ``python -m benchmarks._upload_client MODE ...``:

``sdk BASE_URL REPORT_ID PATH`` uploads with ``CRSClient.evidence.upload`` (defaults: 8 MiB chunks,
the default resume store); ``httpx BASE_URL TOKEN PATH`` streams the file with one raw httpx ``PUT``
to the mock server's benchmark sink. Both warm up (token, connection) first, time the upload alone,
and print one JSON line: ``{"seconds": ..., "bytes": ..., "peak_rss": ...}`` (``ru_maxrss`` of
the whole process, in bytes).
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

import httpx

from benchmarks._server import CLIENT_ID, CLIENT_SECRET, raw_headers
from crs_sdk import CRSClient

SINK_PATH = "/_mock/bench/sink"


def _with_sdk(base_url: str, report_id: str, path: Path) -> float:
    with CRSClient(base_url, client_id=CLIENT_ID, client_secret=CLIENT_SECRET) as client:
        client.reports.get(report_id)
        started = time.perf_counter()
        evidence = client.evidence.upload(report_id, path)
        seconds = time.perf_counter() - started
    if evidence.size != path.stat().st_size:
        raise RuntimeError(f"uploaded {evidence.size} bytes of {path.stat().st_size}")
    return seconds


def _with_httpx(base_url: str, token: str, path: Path) -> float:
    headers = {**raw_headers(token), "Content-Type": "application/octet-stream"}
    with httpx.Client(timeout=600) as client:
        client.get(f"{base_url}/healthz").raise_for_status()
        started = time.perf_counter()
        with path.open("rb") as file:
            response = client.put(f"{base_url}{SINK_PATH}", content=file, headers=headers)
        response.raise_for_status()
        seconds = time.perf_counter() - started
    if response.json()["received"] != path.stat().st_size:
        raise RuntimeError(f"the sink received {response.json()} of {path.stat().st_size}")
    return seconds


def main(argv: list[str]) -> None:
    mode, base_url, credential, name = argv
    path = Path(name)
    if mode == "sdk":
        seconds = _with_sdk(base_url, credential, path)
    elif mode == "httpx":
        seconds = _with_httpx(base_url, credential, path)
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    print(json.dumps({"seconds": seconds, "bytes": path.stat().st_size, "peak_rss": peak}))


if __name__ == "__main__":
    main(sys.argv[1:])
