"""``/v1/files``: upload, retrieve, download and delete training files.

Why stored by id: a client's file name is only echoed back, never joined to a
path, so ``../../etc/passwd`` is just a name. Uploads stream to disk under the
size cap and the storage quota as they arrive (:mod:`worker.uploads`), and
must look like JSONL, as OpenAI requires for ``fine-tune``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool

from worker.deps import Authorized, StateDep
from worker.errors import APIError, not_found
from worker.records import FileRecord
from worker.schemas import FileDeleted, FileObject, ListPage
from worker.store import new_id, now
from worker.uploads import UploadError, UploadTooLarge, receive_upload

router = APIRouter(prefix="/v1/files", tags=["files"], dependencies=[Authorized])

UPLOAD_PURPOSES = ("fine-tune",)
SNIFF_BYTES = 64 * 1024
UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file", "purpose"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "purpose": {"type": "string", "enum": ["fine-tune"]},
                    },
                }
            }
        },
    }
}
"""The form the route reads itself (see :mod:`worker.uploads`), for /docs."""


def to_schema(record: FileRecord) -> FileObject:
    return FileObject(
        id=record.id,
        bytes=record.bytes,
        created_at=record.created_at,
        filename=record.filename,
        purpose=record.purpose,
    )


@router.post("", response_model=FileObject, openapi_extra=UPLOAD_BODY)
async def upload_file(request: Request, state: StateDep) -> FileObject:
    """Multipart ``file`` + ``purpose``, streamed to storage under the size cap and quota."""
    cap = state.config.max_upload_bytes
    room = _quota_room(state)
    limit = min(cap, room) if room is not None else cap
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit + SNIFF_BYTES:
        raise _too_large(state, cap, room)
    file_id = new_id("file")
    state.config.files_dir.mkdir(parents=True, exist_ok=True)
    target = state.config.files_dir / file_id
    try:
        with target.open("wb") as out:
            fields, filename, size = await receive_upload(
                request.headers.get("content-type", ""), request.stream(), out, cap=limit
            )
        purpose = fields.get("purpose", "")
        if purpose not in UPLOAD_PURPOSES:
            raise APIError(
                400,
                f"Invalid purpose {purpose[:40]!r}: the worker accepts files with purpose "
                "'fine-tune'.",
                param="purpose",
            )
        problem = _not_jsonl(target)
        if problem:
            raise APIError(400, problem, param="file", code="invalid_file_format")
    except UploadTooLarge:
        target.unlink(missing_ok=True)
        raise _too_large(state, cap, room) from None
    except UploadError as exc:
        target.unlink(missing_ok=True)
        raise APIError(400, f"Invalid upload: {exc}", param="file") from None
    except BaseException:  # a refused file or a dropped connection leaves nothing behind
        target.unlink(missing_ok=True)
        raise
    if state.runner.storage is not None:  # object storage: trainers on any node read it there
        await run_in_threadpool(state.runner.storage.put_file, target, f"files/{file_id}")
    name = (filename or "upload.jsonl")[:255]
    record = FileRecord(id=file_id, filename=name, bytes=size, purpose=purpose, created_at=now())
    return to_schema(state.store.add(record))


@router.get("", response_model=ListPage[FileObject])
def list_files(
    state: StateDep,
    after: str | None = None,
    limit: Annotated[int, Query(ge=1, le=10000)] = 10000,
    purpose: str | None = None,
) -> ListPage[FileObject]:
    rows, more = state.store.page(FileRecord, after=after, limit=limit)
    data = [to_schema(r) for r in rows if purpose is None or r.purpose == purpose]
    return ListPage[FileObject](data=data, has_more=more)


@router.get("/{file_id}", response_model=FileObject)
def retrieve_file(state: StateDep, file_id: str) -> FileObject:
    return to_schema(_get(state, file_id))


@router.get("/{file_id}/content")
def file_content(state: StateDep, file_id: str) -> FileResponse:
    record = _get(state, file_id)
    media = "text/csv" if record.filename.endswith(".csv") else "application/octet-stream"
    return FileResponse(state.config.files_dir / record.id, media_type=media)


@router.delete("/{file_id}", response_model=FileDeleted)
def delete_file(state: StateDep, file_id: str) -> FileDeleted:
    record = _get(state, file_id)
    (state.config.files_dir / record.id).unlink(missing_ok=True)
    if state.runner.storage is not None:
        state.runner.storage.rm(f"files/{record.id}")
    with state.store.session() as s:
        s.delete(s.merge(record))
    return FileDeleted(id=record.id)


def _get(state: StateDep, file_id: str) -> FileRecord:
    record = state.store.get(FileRecord, file_id)
    if record is None:
        raise not_found("file", file_id, param="file_id")
    return record


def _quota_room(state: StateDep) -> int | None:
    """Bytes the storage quota still allows (None: no quota).

    One API key serves a worker, so its quota is the worker's stored files.
    """
    quota = state.config.max_storage_bytes
    if quota is None:
        return None
    return max(quota - state.store.stored_file_bytes(), 0)


def _too_large(state: StateDep, cap: int, room: int | None) -> APIError:
    if room is not None and room < cap:
        quota = state.config.max_storage_bytes or 0
        return APIError(
            413,
            f"The worker's storage quota of {quota / 1024**3:g} GB is used up "
            f"({room / 1024**2:.1f} MB left; TUNEBOT_WORKER_MAX_STORAGE_GB). "
            "Delete files you no longer need (DELETE /v1/files/ID) or raise the quota.",
            param="file",
            code="storage_quota_exceeded",
        )
    return APIError(
        413,
        f"The file is larger than the worker's limit of {cap // (1024 * 1024)} MB "
        "(TUNEBOT_MAX_FILE_BYTES). Split it or raise the limit.",
        param="file",
        code="file_too_large",
    )


def _not_jsonl(path: Path) -> str | None:
    """A reason the file is not JSONL, from its first line (full checks come later)."""
    with path.open("rb") as handle:
        head = handle.read(SNIFF_BYTES)
    hint = " Upload a JSONL file, one JSON object per line (`tunebot validate --fix` writes one)."
    text = head.decode("utf-8", errors="ignore").lstrip("\ufeff")
    if not text.strip():
        return "Invalid file format for fine-tuning: the file is empty." + hint
    if b"\x00" in head:
        return "Invalid file format for fine-tuning: this looks like a binary file." + hint
    if "\n" not in text.strip() and len(head) == SNIFF_BYTES:
        return None  # a first line longer than the sniff window: the validator decides
    # "\n" only, as JSONL readers split: str.splitlines() also cuts at U+2028 and U+0085.
    first = next(line for line in text.split("\n") if line.strip())
    try:
        value = json.loads(first)
    except json.JSONDecodeError:
        return "Invalid file format for fine-tuning: line 1 is not JSON." + hint
    except RecursionError:
        return "Invalid file format for fine-tuning: line 1 is nested too deeply." + hint
    except ValueError:  # an integer longer than Python's 4300-digit limit
        return "Invalid file format for fine-tuning: line 1 holds a number too large." + hint
    if not isinstance(value, dict):
        return "Invalid file format for fine-tuning: line 1 is not a JSON object." + hint
    return None
