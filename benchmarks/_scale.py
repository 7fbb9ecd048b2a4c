"""How much work each figure does: ``full`` (the documented figures), ``quick`` (CI), ``smoke``."""

from __future__ import annotations

from dataclasses import dataclass

from benchmarks._results import MIB


@dataclass(frozen=True)
class Scale:
    """Sizes and round counts for one run mode."""

    name: str
    #: SDK overhead: calls per round, rounds (sync and async each).
    overhead_calls: int
    overhead_rounds: int
    #: Reports created and submitted per round, rounds.
    reports: int
    report_rounds: int
    #: Evidence upload: the large and the small file (peak RSS is compared between them), rounds.
    upload_size: int
    upload_small_size: int
    upload_rounds: int
    #: Webhook verifications per round, rounds.
    webhooks: int
    webhook_rounds: int
    #: Mock server: requests per method.
    server_requests: int
    #: ``import`` timing: fresh interpreters per command.
    import_runs: int
    concurrency: int = 32


FULL = Scale(
    name="full",
    overhead_calls=1000,
    overhead_rounds=9,
    reports=1000,
    report_rounds=5,
    upload_size=1024 * MIB,
    upload_small_size=100 * MIB,
    upload_rounds=5,
    webhooks=20_000,
    webhook_rounds=9,
    server_requests=10_000,
    import_runs=40,
)

QUICK = Scale(
    name="quick",
    overhead_calls=200,
    overhead_rounds=5,
    reports=200,
    report_rounds=3,
    upload_size=64 * MIB,
    upload_small_size=16 * MIB,
    upload_rounds=3,
    webhooks=5_000,
    webhook_rounds=5,
    server_requests=1_000,
    import_runs=12,
)

SMOKE = Scale(
    name="smoke",
    overhead_calls=10,
    overhead_rounds=2,
    reports=16,
    report_rounds=1,
    upload_size=2 * MIB,
    upload_small_size=1 * MIB,
    upload_rounds=1,
    webhooks=100,
    webhook_rounds=2,
    server_requests=64,
    import_runs=2,
)

SCALES = {scale.name: scale for scale in (FULL, QUICK, SMOKE)}
