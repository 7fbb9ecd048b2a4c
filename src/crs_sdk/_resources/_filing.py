"""``reports.create_and_submit``: create a report, attach its evidence and submit it, in one call.

It is not atomic: the API has no transaction spanning several requests. A failure after the report
was created leaves it in ``draft`` with the evidence attached so far, and raises
`IncompleteReportError` naming the report (the error that stopped it is ``__cause__``).

Calling again with the same ``idempotency_key`` resumes instead of starting over. Each step sends
a key derived from it (``<key>:create``, ``<key>:submit``, and for the n-th file
``<key>:evidence-<n>:<digest>``, the digest of its content's SHA-256, size and metadata), so the
server replays the steps that already happened: the same report, the same uploads (a finished one
is recognised, an unfinished one continues), the same submission. A file corrected after it was
refused (its ``content_type``, its bytes) is a new upload, not a reused key. Keys live 24 hours on
the server. Without a key the SDK makes one per call, which makes the steps safe to retry, but a
second call is a second report.

The arguments are checked, and the paths looked at (they must exist and not be empty), before the
report is created, so that a typo does not leave a stray draft behind. Two files with the same
content are refused then too (`ValueError` naming both): the report would refuse the second as
``duplicate_evidence``, and the metadata given with it would be lost. The sizes tell most files
apart; only files of equal size are read (hashed) for it (the async client reads them in a thread
of its own, which stops at the next 1 MiB block when the call is cancelled). A stream that
cannot seek is not read in advance; if its content equals another file's of the same call, the
upload's ``duplicate_evidence`` stops the call (`IncompleteReportError`, its cause a
`ValueError`). The file it repeats is the evidence the server names, or, when it names none (a
``HEAD`` after the answer to the last chunk was lost), the evidence with the stream's SHA-256.
"""

from __future__ import annotations

import asyncio
import functools
import os
import threading
from typing import TYPE_CHECKING, Any

from crs_sdk._arguments import (
    check_idempotency_key,
    derived_idempotency_key,
    new_idempotency_key,
)
from crs_sdk._converter import format_datetime
from crs_sdk._enums import EvidenceRelevance
from crs_sdk._evidence_metadata import check_source, describe_filename, media_type_for
from crs_sdk._exceptions import CRSError, DuplicateEvidenceError, IncompleteReportError
from crs_sdk._file_claims import in_own_thread
from crs_sdk._upload import EvidenceFile
from crs_sdk._upload_source import content_sha256, content_size

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from datetime import datetime

    from crs_sdk._config import NotGiven
    from crs_sdk._models import Evidence, Report, ReportCreate
    from crs_sdk._resources._evidence import AsyncReportEvidence, ReportEvidence
    from crs_sdk._resources._reports import AsyncReports, Reports
    from crs_sdk._resume import ResumeStore

__all__ = [
    "acreate_and_submit",
    "create_and_submit",
    "evidence_files",
]


def _evidence_file(item: object) -> EvidenceFile:
    if isinstance(item, EvidenceFile):
        return item
    if isinstance(item, (str, os.PathLike)):
        return EvidenceFile(source=item)
    raise TypeError(f"evidence must be EvidenceFile objects or paths, not {type(item).__name__}")


def _check(file: EvidenceFile) -> None:
    check_source(file.source, file.captured_at)
    name = describe_filename(file.source, file.filename)
    media_type_for(name, file.content_type)
    if content_size(file.source) == 0:
        raise ValueError(f"{name!r} is empty: the CRS API does not accept empty evidence")


def _describe(files: Sequence[EvidenceFile], index: int) -> str:
    file = files[index]
    return f"evidence[{index}] ({describe_filename(file.source, file.filename)!r})"


def _refuse_duplicates(files: Sequence[EvidenceFile], stop: threading.Event | None) -> None:
    """Refuse two files with the same content: the report would refuse the second one
    (``duplicate_evidence``) and its metadata would be lost. Sizes first; only files of equal
    size are read (hashed), and a stream that cannot seek is not compared (it would be used up)."""
    by_size: dict[int, list[int]] = {}
    for index, file in enumerate(files):
        size = content_size(file.source)
        if size is not None:
            by_size.setdefault(size, []).append(index)
    for indexes in by_size.values():
        if len(indexes) < 2:  # noqa: PLR2004 - a pair
            continue
        by_hash: dict[str, int] = {}
        for index in indexes:
            sha256 = content_sha256(files[index].source, stop=stop)
            first = by_hash.setdefault(sha256, index)
            if first != index:
                raise ValueError(
                    f"{_describe(files, first)} and {_describe(files, index)} have the same "
                    "content: a report holds each file once; give it once, with the metadata "
                    "to record"
                )


def evidence_files(
    items: Iterable[Any], *, stop: threading.Event | None = None
) -> tuple[EvidenceFile, ...]:
    """Normalise and check the files before anything is created. Once ``stop`` is set (the
    async caller was cancelled), hashing stops at the next block (`ValueError`).

    Raises:
        TypeError: an item is neither an `EvidenceFile` nor a path.
        ValueError: a file is empty, has no name, or no media type (none given, and its name
            implies none), or two files have the same content (their positions and names are
            named).
        OSError: a path cannot be read.
    """
    if isinstance(items, (str, bytes, os.PathLike, EvidenceFile)):
        raise TypeError("evidence must be a sequence of files, not a single file")
    files = tuple(_evidence_file(item) for item in items)
    for file in files:
        _check(file)
    _refuse_duplicates(files, stop)
    return files


def _incomplete(
    report_id: str,
    attached: list[Evidence],
    *,
    key: str,
    files: Sequence[EvidenceFile],
    failing: int | None,
) -> IncompleteReportError:
    """The error of a call stopped at file ``failing`` (``None``: at the submission)."""
    what = "the submission" if failing is None else _describe(files, failing)
    return IncompleteReportError(
        f"report {report_id} was created but not submitted: {what} failed; it is a draft with "
        f"{len(attached)} new piece(s) of evidence. Call again with idempotency_key={key!r} "
        "to resume.",
        report_id=report_id,
        evidence=tuple(attached),
        step="submit" if failing is None else "evidence",
        idempotency_key=key,
        file_index=failing,
    )


def _duplicated(exc: DuplicateEvidenceError, evidence: Evidence) -> bool:
    if exc.existing_evidence_id is not None:
        return evidence.id == exc.existing_evidence_id
    # A HEAD answer (410 Upload-Error, after a lost answer) names no evidence: the hash does.
    return exc.local_sha256 is not None and evidence.sha256.lower() == exc.local_sha256


def _refuse_own_duplicate(exc: DuplicateEvidenceError, attached: Sequence[Evidence]) -> None:
    """Raise if the evidence a file duplicates is another file of this call (a stream that
    could not be compared in advance), not this file attached by an earlier call: the one
    the server named, or else the one with the file's SHA-256."""
    same = next((e for e in attached if _duplicated(exc, e)), None)
    if same is not None:
        raise ValueError(
            f"a file has the same content as {same.filename!r}, attached by this call: "
            "a report holds each file once"
        ) from exc


def _differences(existing: Evidence, file: EvidenceFile) -> list[str]:
    """What ``existing`` records otherwise than an upload of ``file`` would."""
    name = describe_filename(file.source, file.filename)
    media = media_type_for(name, file.content_type)
    recorded = {
        "filename": (existing.filename, name),
        "content_type": (_media(existing.content_type), _media(media)),
        "relevance": (existing.relevance, EvidenceRelevance(file.relevance)),
        "captured_at": (_instant(existing.captured_at), _instant(file.captured_at)),
    }
    return [field for field, (there, here) in recorded.items() if there != here]


def _media(value: str) -> str:
    return value.split(";", maxsplit=1)[0].strip().lower()


def _instant(value: datetime | None) -> str | None:
    return None if value is None else format_datetime(value)


def _refuse_changed(
    exc: DuplicateEvidenceError, file: EvidenceFile, listed: Iterable[Evidence]
) -> None:
    """Raise if the evidence ``file`` duplicates records other metadata than ``file`` gives
    (corrected since an earlier call attached it): evidence cannot be changed, and the call
    must not end as if the correction had been made."""
    existing = next((e for e in listed if _duplicated(exc, e)), None)
    if existing is None:
        return
    differences = _differences(existing, file)
    if differences:
        name = describe_filename(file.source, file.filename)
        raise ValueError(
            f"{name!r} is already evidence {existing.id} of the report, recorded with another "
            f"{', '.join(differences)}: attached evidence cannot be changed; give the file as "
            "it was recorded, or withdraw the report and file a new one"
        ) from exc


def _attach(
    evidence: ReportEvidence,
    report_id: str,
    file: EvidenceFile,
    key: str,
    store: ResumeStore | NotGiven | None,
    *,
    attached: Sequence[Evidence],
) -> Evidence | None:
    try:
        return evidence._attach(report_id, file, step_key=key, resume_store=store)  # noqa: SLF001
    except DuplicateEvidenceError as exc:
        _refuse_own_duplicate(exc, attached)
        _refuse_changed(exc, file, evidence.list(report_id))
        return None  # attached by an earlier call with this key: the goal is reached


async def _aattach(
    evidence: AsyncReportEvidence,
    report_id: str,
    file: EvidenceFile,
    key: str,
    store: ResumeStore | NotGiven | None,
    *,
    attached: Sequence[Evidence],
) -> Evidence | None:
    try:
        return await evidence._attach(  # noqa: SLF001
            report_id, file, step_key=key, resume_store=store
        )
    except DuplicateEvidenceError as exc:
        _refuse_own_duplicate(exc, attached)
        _refuse_changed(exc, file, [e async for e in evidence.list(report_id)])
        return None


def create_and_submit(
    reports: Reports,
    evidence: ReportEvidence,
    report: ReportCreate,
    files: Sequence[EvidenceFile | str | os.PathLike[str]],
    *,
    good_faith_declaration: bool | None,
    idempotency_key: str | None,
    store: ResumeStore | NotGiven | None,
) -> Report:
    """The synchronous steps (see the module documentation)."""
    check_idempotency_key(idempotency_key)
    checked = evidence_files(files)
    key = idempotency_key or new_idempotency_key()
    created = reports.create(report, idempotency_key=derived_idempotency_key(key, "create"))
    attached: list[Evidence] = []
    failing: int | None = None
    try:
        for failing, file in enumerate(checked):
            step_id = derived_idempotency_key(key, f"evidence-{failing}")
            done = _attach(evidence, created.id, file, step_id, store, attached=attached)
            if done is not None:
                attached.append(done)
        failing = None
        return reports.submit(
            created.id,
            good_faith_declaration=good_faith_declaration,
            idempotency_key=derived_idempotency_key(key, "submit"),
        )
    except (CRSError, OSError, ValueError) as exc:
        raise _incomplete(created.id, attached, key=key, files=checked, failing=failing) from exc


async def acreate_and_submit(
    reports: AsyncReports,
    evidence: AsyncReportEvidence,
    report: ReportCreate,
    files: Sequence[EvidenceFile | str | os.PathLike[str]],
    *,
    good_faith_declaration: bool | None,
    idempotency_key: str | None,
    store: ResumeStore | NotGiven | None,
) -> Report:
    """The asynchronous steps (see the module documentation)."""
    check_idempotency_key(idempotency_key)
    # Stats, and may hash: file I/O that may wait for a file object an upload reads (in_own_thread).
    # A thread cannot be stopped: if this call is cancelled, it is told to stop reading.
    stop = threading.Event()
    try:
        checked = await in_own_thread(functools.partial(evidence_files, files, stop=stop))
    except asyncio.CancelledError:
        stop.set()
        raise
    key = idempotency_key or new_idempotency_key()
    created = await reports.create(report, idempotency_key=derived_idempotency_key(key, "create"))
    attached: list[Evidence] = []
    failing: int | None = None
    try:
        for failing, file in enumerate(checked):
            step_id = derived_idempotency_key(key, f"evidence-{failing}")
            done = await _aattach(evidence, created.id, file, step_id, store, attached=attached)
            if done is not None:
                attached.append(done)
        failing = None
        return await reports.submit(
            created.id,
            good_faith_declaration=good_faith_declaration,
            idempotency_key=derived_idempotency_key(key, "submit"),
        )
    except (CRSError, OSError, ValueError) as exc:
        raise _incomplete(created.id, attached, key=key, files=checked, failing=failing) from exc
