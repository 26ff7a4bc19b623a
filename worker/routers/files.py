"""``/v1/files``: upload, retrieve, download and delete training files.

Why stored by id: a client's file name is only echoed back, never joined to a
path, so ``../../etc/passwd`` is just a name. Uploads stream to disk with a
size cap and must look like JSONL, as OpenAI requires for ``fine-tune``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import FileResponse

from worker.deps import Authorized, StateDep
from worker.errors import APIError, not_found
from worker.records import FileRecord
from worker.schemas import FileDeleted, FileObject, ListPage
from worker.store import new_id, now

router = APIRouter(prefix="/v1/files", tags=["files"], dependencies=[Authorized])

UPLOAD_PURPOSES = ("fine-tune",)
CHUNK = 1024 * 1024
SNIFF_BYTES = 64 * 1024


def to_schema(record: FileRecord) -> FileObject:
    return FileObject(
        id=record.id,
        bytes=record.bytes,
        created_at=record.created_at,
        filename=record.filename,
        purpose=record.purpose,
    )


@router.post("", response_model=FileObject)
def upload_file(
    request: Request,
    state: StateDep,
    file: Annotated[UploadFile, File()],
    purpose: Annotated[str, Form()],
) -> FileObject:
    if purpose not in UPLOAD_PURPOSES:
        raise APIError(
            400,
            f"Invalid purpose {purpose!r}: the worker accepts files with purpose 'fine-tune'.",
            param="purpose",
        )
    cap = state.config.max_upload_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap + SNIFF_BYTES:
        raise _too_large(cap)
    file_id = new_id("file")
    state.config.files_dir.mkdir(parents=True, exist_ok=True)
    target = state.config.files_dir / file_id
    size = _copy_capped(file, target, cap)
    problem = _not_jsonl(target)
    if problem:
        target.unlink(missing_ok=True)
        raise APIError(400, problem, param="file", code="invalid_file_format")
    name = (file.filename or "upload.jsonl")[:255]
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
    with state.store.session() as s:
        s.delete(s.merge(record))
    return FileDeleted(id=record.id)


def _get(state: StateDep, file_id: str) -> FileRecord:
    record = state.store.get(FileRecord, file_id)
    if record is None:
        raise not_found("file", file_id, param="file_id")
    return record


def _too_large(cap: int) -> APIError:
    return APIError(
        413,
        f"The file is larger than the worker's limit of {cap // (1024 * 1024)} MB "
        "(TUNEBOT_MAX_FILE_BYTES). Split it or raise the limit.",
        param="file",
        code="file_too_large",
    )


def _copy_capped(upload: UploadFile, target: Path, cap: int) -> int:
    size = 0
    with target.open("wb") as out:
        while chunk := upload.file.read(CHUNK):
            size += len(chunk)
            if size > cap:
                out.close()
                target.unlink(missing_ok=True)
                raise _too_large(cap)
            out.write(chunk)
    return size


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
    if not isinstance(value, dict):
        return "Invalid file format for fine-tuning: line 1 is not a JSON object." + hint
    return None
