"""A multipart upload parsed as it arrives, its file part written under a cap.

Why not FastAPI's ``UploadFile``: Starlette reads the whole body into a
temporary file before the route runs, so a 4 MB cap let 352 MB land on disk
(issue #10). Here the body is fed to python-multipart's streaming parser
chunk by chunk; the file part goes straight to its target and the upload
stops at the first chunk that would pass the cap, so nothing over the cap is
ever written.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import BinaryIO

from python_multipart.multipart import MultipartParser, parse_options_header

FIELD_LIMIT = 4096
"""Bytes kept of a non-file field (``purpose``)."""
MAX_PARTS = 8


class UploadError(Exception):
    """The body is not an acceptable upload; ``reason`` says which check failed."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class UploadTooLarge(UploadError):
    def __init__(self) -> None:
        super().__init__("too_large", "The file is larger than the limit.")


async def receive_upload(
    content_type: str,
    body: AsyncIterator[bytes],
    target: BinaryIO,
    *,
    file_field: str = "file",
    cap: int,
) -> tuple[dict[str, str], str | None, int]:
    """Stream ``body`` into ``target``; return (fields, file name, file bytes).

    Raises:
        UploadTooLarge: the file part passed ``cap`` (``target`` holds at most ``cap`` bytes).
        UploadError: not multipart, no file part, too many parts or a field too long.
    """
    kind, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise UploadError("not_multipart", "Send the file as multipart/form-data.")
    state = _Parts(target, file_field=file_field, cap=cap)
    parser = MultipartParser(boundary, state.callbacks())  # type: ignore[arg-type]  # a TypedDict of the same callbacks
    async for chunk in body:
        parser.write(chunk)
        if state.error:
            raise state.error
    parser.finalize()
    if state.error:
        raise state.error
    if not state.saw_file:
        raise UploadError("no_file", f"The upload has no {file_field!r} part.")
    return state.fields, state.filename, state.size


class _Parts:
    """Callback state for one multipart body."""

    def __init__(self, target: BinaryIO, *, file_field: str, cap: int) -> None:
        self.target = target
        self.file_field = file_field
        self.cap = cap
        self.fields: dict[str, str] = {}
        self.filename: str | None = None
        self.size = 0
        self.saw_file = False
        self.error: UploadError | None = None
        self._parts = 0
        self._header_field = b""
        self._header_value = b""
        self._disposition = b""
        self._name: str | None = None
        self._is_file = False
        self._value = bytearray()

    def callbacks(self) -> dict[str, object]:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": lambda data, start, end: self._add("_header_field", data[start:end]),
            "on_header_value": lambda data, start, end: self._add("_header_value", data[start:end]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
        }

    def _add(self, attr: str, data: bytes) -> None:
        value = getattr(self, attr) + data
        if len(value) > FIELD_LIMIT:
            self._fail(UploadError("bad_headers", "A part header is too long."))
            return
        setattr(self, attr, value)

    def _fail(self, error: UploadError) -> None:
        if self.error is None:
            self.error = error

    def _part_begin(self) -> None:
        self._parts += 1
        if self._parts > MAX_PARTS:
            self._fail(UploadError("too_many_parts", "The upload has too many parts."))
        self._disposition = b""
        self._name, self._is_file = None, False
        self._value = bytearray()

    def _header_end(self) -> None:
        if self._header_field.strip().lower() == b"content-disposition":
            self._disposition = self._header_value
        self._header_field, self._header_value = b"", b""

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._disposition)
        name = options.get(b"name", b"").decode("utf-8", "replace")
        self._name = name
        self._is_file = name == self.file_field
        if self._is_file:
            if self.saw_file:
                self._fail(UploadError("two_files", "Send one file per upload."))
            self.saw_file = True
            raw = options.get(b"filename")
            self.filename = raw.decode("utf-8", "replace") if raw is not None else None

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self.error:
            return
        piece = data[start:end]
        if self._is_file:
            if self.size + len(piece) > self.cap:
                self._fail(UploadTooLarge())
                return
            self.target.write(piece)
            self.size += len(piece)
        else:
            self._value += piece
            if len(self._value) > FIELD_LIMIT:
                self._fail(UploadError("field_too_long", f"The field {self._name!r} is too long."))

    def _part_end(self) -> None:
        if not self._is_file and self._name:
            self.fields[self._name] = self._value.decode("utf-8", "replace")
