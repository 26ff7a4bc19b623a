"""OpenAI-shaped errors: ``{"error": {"message", "type", "param", "code"}}``.

Why: the bot talks to the worker through the ``openai`` SDK, which turns the
HTTP status into its exception class (400 ``BadRequestError``, 401
``AuthenticationError``, 404 ``NotFoundError``, 413/422 ...) and reads
``error.message`` for people. Every failure path, including FastAPI's own
validation errors and unexpected exceptions, answers in this shape.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from core.errors import TunebotError
from worker.schemas import ErrorBody, ErrorDetail

logger = logging.getLogger(__name__)


class APIError(Exception):
    """An error response; raise it from routes and dependencies."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type_: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.detail = ErrorDetail(message=message, type=type_, param=param, code=code)


def not_found(kind: str, object_id: str, *, param: str | None = None) -> APIError:
    return APIError(404, f"No {kind} found with id {object_id!r}.", param=param, code="not_found")


def _response(status: int, detail: ErrorDetail) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    body = ErrorBody(error=detail).model_dump()
    return JSONResponse(status_code=status, content=body, headers=headers)


async def _api_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, APIError)
    return _response(exc.status, exc.detail)


async def _tunebot_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, TunebotError)
    return _response(400, ErrorDetail(message=exc.user_message(), type="invalid_request_error"))


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {}
    location = [str(part) for part in first.get("loc", ()) if part not in ("body", "query")]
    param = ".".join(location) or None
    message = f"Invalid value for {param!r}: {first.get('msg', 'invalid request')}."
    if param is None:
        message = f"Invalid request: {first.get('msg', 'could not parse the body')}."
    return _response(400, ErrorDetail(message=message, type="invalid_request_error", param=param))


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = ErrorDetail(message=str(exc.detail), type="invalid_request_error")
    return _response(exc.status_code, detail)


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    logger.exception("unhandled error in the worker API", exc_info=exc)
    detail = ErrorDetail(
        message="The worker hit an internal error; its log has the details.", type="server_error"
    )
    return _response(500, detail)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(APIError, _api_error)
    app.add_exception_handler(TunebotError, _tunebot_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
