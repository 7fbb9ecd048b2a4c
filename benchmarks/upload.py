"""Evidence upload: the SDK's tus upload against one raw httpx ``PUT`` of the same bytes.

The file is made of ``os.urandom`` bytes, written in blocks (never held in memory). Each upload
runs in a fresh client process (`benchmarks._upload_client`), so that its peak RSS is its own.

- Throughput: ``evidence.upload`` (SHA-256 of the file first, then 8 MiB ``PATCH`` requests, each
  with its checksum, each fsynced by the server, and the server's SHA-256 of the whole file at the
  end) against a raw httpx ``PUT`` streaming the file to ``/_mock/bench/sink``, which writes the
  bytes to a file on the same file system and fsyncs it once. Same server, rounds interleaved;
  once with the server's files on the disk, and once on a RAM-backed file system, where no disk
  bounds either side and the protocol's own costs show.
- Against a tus client doing the same protocol work (no target): the ``tuspy`` reference client
  with the file's SHA-256 computed first and a checksum per chunk, on the RAM-backed server.
- CPU: each figure's detail gives the CPU seconds per GiB of the client process and of the server
  process, for both sides: the part of the gap that is work the protocol asks for, not waiting.
- Memory: peak RSS of the client process, and ``VmHWM`` of a fresh server process that received
  just that one upload, for the large file and for a small one. Neither should grow with the file.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from benchmarks._fixtures import new_reference, report_model
from benchmarks._measure import paired_rounds
from benchmarks._results import MIB, Row, Target
from benchmarks._server import CLIENT_ID, CLIENT_SECRET, Server, fetch_token, running_server
from crs_sdk import CRSClient

if TYPE_CHECKING:
    from benchmarks._measure import Paired
    from benchmarks._scale import Scale
    from benchmarks._server import StateDirs

ROOT = Path(__file__).resolve().parent.parent
THROUGHPUT = Target(">=", 0.80)
CLIENT_RSS_LIMIT = Target("<", 64, on="candidate", unit="MiB")
RSS_GROWTH = Target("<=", 1.10)
_BLOCK = MIB


@dataclass(frozen=True)
class Upload:
    """What one client process reported, and the server's CPU time during its upload."""

    seconds: float
    size: int
    peak_rss: int
    cpu_seconds: float
    server_cpu_seconds: float

    @property
    def mib_per_second(self) -> float:
        return self.size / MIB / self.seconds

    @property
    def cpu_per_gib(self) -> tuple[float, float]:
        """CPU seconds per GiB uploaded: the client's, the server's."""
        gib = self.size / (1024 * MIB)
        return self.cpu_seconds / gib, self.server_cpu_seconds / gib


def size_text(size: int) -> str:
    if size >= 1024 * MIB and size % (1024 * MIB) == 0:
        return f"{size // (1024 * MIB)} GiB"
    return f"{size / MIB:g} MiB"


def make_file(path: Path, size: int) -> Path:
    """A file of ``size`` random bytes, written block by block."""
    with path.open("wb") as file:
        left = size
        while left:
            block = min(left, _BLOCK)
            file.write(os.urandom(block))
            left -= block
    return path


def _client(mode: str, server: Server, credential: str, path: Path, cache: Path) -> Upload:
    env = {**os.environ, "XDG_CACHE_HOME": str(cache)}  # the default resume store, kept apart
    server_cpu = server.cpu_seconds()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks._upload_client",
            mode,
            server.base_url,
            credential,
            path,
        ],
        check=False,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
    )
    if done.returncode:
        raise RuntimeError(f"the {mode} upload failed:\n{done.stderr}")
    report = json.loads(done.stdout.strip().splitlines()[-1])
    return Upload(
        report["seconds"],
        report["bytes"],
        report["peak_rss"],
        report["cpu_seconds"],
        server.cpu_seconds() - server_cpu,
    )


class _Session:
    """Uploads of one file to one server, with the SDK or with raw httpx."""

    def __init__(self, server: Server, path: Path, cache: Path) -> None:
        self.server = server
        self.path = path
        self.cache = cache
        self.token = fetch_token(server.base_url)
        self.sdk_runs: list[Upload] = []
        self.raw_runs: list[Upload] = []
        self.tus_runs: list[Upload] = []

    def _new_report(self) -> str:
        # A new report each time: a report refuses the same file twice.
        with CRSClient(
            self.server.base_url, client_id=CLIENT_ID, client_secret=CLIENT_SECRET
        ) as client:
            return client.reports.create(report_model(new_reference("BENCH-UPLOAD"))).id

    def sdk(self) -> Upload:
        upload = _client("sdk", self.server, self._new_report(), self.path, self.cache)
        self.sdk_runs.append(upload)
        return upload

    def tus(self) -> Upload:
        upload = _client("tus", self.server, self._new_report(), self.path, self.cache)
        self.tus_runs.append(upload)
        return upload

    def raw(self) -> Upload:
        upload = _client("httpx", self.server, self.token, self.path, self.cache)
        self.raw_runs.append(upload)
        return upload


def _fresh_sdk_upload(db: Path, path: Path, cache: Path) -> tuple[Upload, int]:
    """One SDK upload to a fresh server: the client's report and the server's peak RSS."""
    with running_server(db, "--benchmark-sink") as server:
        upload = _Session(server, path, cache).sdk()
        return upload, server.peak_rss()


def _throughput(session: _Session, rounds: int) -> Paired:
    return paired_rounds(
        rounds, lambda: session.sdk().mib_per_second, lambda: session.raw().mib_per_second
    )


def _against_tuspy(session: _Session, rounds: int) -> Paired:
    return paired_rounds(
        rounds, lambda: session.sdk().mib_per_second, lambda: session.tus().mib_per_second
    )


def _runs(session: _Session) -> dict[str, list[dict[str, float]]]:
    return {
        "sdk": [asdict(upload) for upload in session.sdk_runs],
        "httpx": [asdict(upload) for upload in session.raw_runs],
        "tuspy": [asdict(upload) for upload in session.tus_runs],
    }


def _cpu_text(runs: list[Upload]) -> str:
    client = statistics.median(upload.cpu_per_gib[0] for upload in runs)
    server = statistics.median(upload.cpu_per_gib[1] for upload in runs)
    return f"{client:.1f} + {server:.1f}"


def _cpu_detail(candidate: list[Upload], baseline: list[Upload], name: str) -> str:
    return (
        f"CPU s/GiB, client + server: {_cpu_text(candidate)} (SDK)"
        f" vs {_cpu_text(baseline)} ({name})"
    )


def run(scale: Scale, dirs: StateDirs) -> list[Row]:
    cache = dirs.disk / "cache"
    big = make_file(dirs.disk / "evidence-large.mp4", scale.upload_size)
    small = make_file(dirs.disk / "evidence-small.mp4", scale.upload_small_size)
    big_text, small_text = size_text(scale.upload_size), size_text(scale.upload_small_size)
    small_client, small_server = _fresh_sdk_upload(dirs.disk / "upload-small.sqlite3", small, cache)
    throughput: list[tuple[str, Paired, _Session]] = []
    with running_server(dirs.disk / "upload.sqlite3", "--benchmark-sink") as server:
        session = _Session(server, big, cache)
        big_client = session.sdk()  # on a fresh server; also the warm-up of the rounds
        big_server = server.peak_rss()
        throughput.append(("disk", _throughput(session, scale.upload_rounds), session))
    if dirs.has_ram:
        with running_server(dirs.ram / "upload.sqlite3", "--benchmark-sink") as server:
            session = _Session(server, big, cache)
            session.sdk()
            throughput.append(("tmpfs", _throughput(session, scale.upload_rounds), session))
            tuspy = _against_tuspy(session, scale.upload_rounds)
    else:
        tuspy = _against_tuspy(session, scale.upload_rounds)  # the disk's session
    tus_where = "tmpfs" if dirs.has_ram else "disk"
    rows = [
        Row(
            figure=f"evidence upload, {big_text}, server on {where}: throughput",
            candidate=paired.candidate_median,
            baseline=paired.baseline_median,
            unit="MiB/s",
            ratio=paired.ratio,
            target=THROUGHPUT,
            detail=_cpu_detail(session.sdk_runs, session.raw_runs, "httpx"),
            data={"mib_per_second": paired.as_json(), "runs": _runs(session)},
        )
        for where, paired, session in throughput
    ]
    rows.append(
        Row(
            figure=f"evidence upload, {big_text}, server on {tus_where}: SDK vs tuspy",
            candidate=tuspy.candidate_median,
            baseline=tuspy.baseline_median,
            unit="MiB/s",
            ratio=tuspy.ratio,
            detail=_cpu_detail(session.sdk_runs, session.tus_runs, "tuspy")
            + "; the same protocol work, no target",
            data={"mib_per_second": tuspy.as_json()},
        )
    )
    raw_rss = max(upload.peak_rss for _, _, session in throughput for upload in session.raw_runs)
    return [
        *rows,
        Row(
            figure=f"evidence upload, {big_text}: client peak RSS",
            candidate=big_client.peak_rss / MIB,
            baseline=raw_rss / MIB,
            unit="MiB",
            ratio=big_client.peak_rss / raw_rss,
            target=CLIENT_RSS_LIMIT,
            data={"bytes": {"sdk": big_client.peak_rss, "httpx": raw_rss}},
        ),
        Row(
            figure=f"client peak RSS, {big_text} vs {small_text} upload",
            candidate=big_client.peak_rss / MIB,
            baseline=small_client.peak_rss / MIB,
            unit="MiB",
            ratio=big_client.peak_rss / small_client.peak_rss,
            target=RSS_GROWTH,
        ),
        Row(
            figure=f"server peak RSS, {big_text} vs {small_text} upload",
            candidate=big_server / MIB,
            baseline=small_server / MIB,
            unit="MiB",
            ratio=big_server / small_server,
            target=RSS_GROWTH,
        ),
    ]
