"""One upload in a fresh process, so that its peak RSS and CPU time are its own.

Run as ``python -m benchmarks._upload_client MODE BASE_URL CREDENTIAL PATH``:

- ``sdk BASE_URL REPORT_ID PATH`` uploads with ``CRSClient.evidence.upload`` (defaults: 8 MiB
  chunks, the default resume store);
- ``httpx BASE_URL TOKEN PATH`` streams the file with one raw httpx ``PUT`` to the mock server's
  benchmark sink;
- ``tus BASE_URL REPORT_ID PATH`` does what the contract asks of any tus client, with the
  ``tuspy`` reference client: the file's SHA-256 first (for ``Upload-Metadata``), then
  ``tuspy`` with the SDK's chunk size and a checksum per chunk (``sha1``, tuspy's only one).

Each warms up (token, connection) first, times the upload alone, and prints one JSON line:
``{"seconds": ..., "bytes": ..., "peak_rss": ..., "cpu_seconds": ...}`` (``ru_maxrss`` of the
whole process in bytes; user and system CPU time of the timed part, every thread).
"""

from __future__ import annotations

import hashlib
import json
import resource
import sys
import time
from pathlib import Path

import httpx

from benchmarks._results import MIB
from benchmarks._server import CLIENT_ID, CLIENT_SECRET, fetch_token, raw_headers
from crs_sdk import CRSClient
from crs_sdk._config import DEFAULT_CHUNK_SIZE

SINK_PATH = "/_mock/bench/sink"


def _with_sdk(base_url: str, report_id: str, path: Path) -> float:
    with CRSClient(base_url, client_id=CLIENT_ID, client_secret=CLIENT_SECRET) as client:
        client.reports.get(report_id)
        uploads = client.evidence  # loads the uploader (lazily imported): warm-up, not upload
        started = time.perf_counter()
        evidence = uploads.upload(report_id, path)
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


def _with_tuspy(base_url: str, report_id: str, path: Path) -> float:
    from tusclient.client import TusClient  # only this mode needs it

    token = fetch_token(base_url)
    httpx.get(f"{base_url}/healthz").raise_for_status()
    started = time.perf_counter()
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while block := file.read(MIB):
            digest.update(block)
    client = TusClient(f"{base_url}/v1/reports/{report_id}/evidence", headers=raw_headers(token))
    metadata = {
        "filename": path.name,
        "content_type": "video/mp4",
        "sha256": digest.hexdigest(),
        "relevance": "primary",
    }
    uploader = client.uploader(
        str(path), chunk_size=DEFAULT_CHUNK_SIZE, metadata=metadata, upload_checksum=True
    )
    uploader.upload()
    seconds = time.perf_counter() - started
    if uploader.offset != path.stat().st_size:
        raise RuntimeError(f"tuspy uploaded {uploader.offset} bytes of {path.stat().st_size}")
    return seconds


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


MODES = {"sdk": _with_sdk, "httpx": _with_httpx, "tus": _with_tuspy}


def main(argv: list[str]) -> None:
    mode, base_url, credential, name = argv
    path = Path(name)
    if mode not in MODES:
        raise SystemExit(f"unknown mode {mode!r}")
    cpu_before = _cpu()
    seconds = MODES[mode](base_url, credential, path)
    cpu = _cpu() - cpu_before
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    print(
        json.dumps(
            {"seconds": seconds, "bytes": path.stat().st_size, "peak_rss": peak, "cpu_seconds": cpu}
        )
    )


if __name__ == "__main__":
    main(sys.argv[1:])
