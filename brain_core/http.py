"""Reading an HTTP request body within limits, for BRAIN's FastAPI services.

Every service that takes a binary body (receiver, transform, inference, drift) reads it
through :func:`read_body`, so the same checks run everywhere and in the same order:

1. media type (415), before anything is read;
2. the declared ``Content-Length`` against the size limit (413), before anything is read;
3. the streamed size against the same limit (413), stopping at the first chunk over it,
   so a body without (or with a lying) ``Content-Length`` never fills the memory;
4. a time limit on reading the whole body (408), so a client that trickles its body
   (slowloris) cannot hold a worker and its memory for long.

Errors are ``HTTPException``\\ s with a JSON ``detail`` (FastAPI's default handler), so no
service needs an extra exception handler; each carries ``Connection: close`` because the
rest of the body was not read and the connection cannot be reused. Nothing is stored
before this function returns, so a refused body leaves no trace.

This module needs Starlette (every BRAIN service has it through FastAPI); the rest of
``brain_core`` does not import it.
"""

from __future__ import annotations

import asyncio

from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request

#: Headers of every refusal: the unread rest of the body makes the connection unusable.
_CLOSE = {"Connection": "close"}


def _refuse(code: int, detail: str) -> HTTPException:
    return HTTPException(code, detail, headers=dict(_CLOSE))


def media_type_of(request: Request) -> str:
    """The request's media type without parameters (``; boundary=...``), lower case."""
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def check_media_type(request: Request, media_type: str) -> None:
    """415 unless the request's Content-Type is ``media_type``."""
    got = media_type_of(request)
    if got != media_type.lower():
        raise _refuse(415, f"Content-Type must be {media_type}, got {got!r}.")


def check_declared_size(request: Request, limit: int) -> None:
    """413 when the declared Content-Length is above ``limit`` (nothing read yet)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _refuse(413, f"The request body is {declared} bytes, above the limit of "
                           f"{limit} bytes.")


async def _read_limited(request: Request, limit: int) -> bytes:
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _refuse(413, f"The request body is above the limit of {limit} bytes.")
        chunks.append(chunk)
    return b"".join(chunks)


async def read_body(request: Request, *, limit: int, media_type: str | None,
                    timeout_s: float | None = None) -> bytes:
    """Read the whole body of ``request`` within limits, or raise an HTTP 4xx.

    Parameters
    ----------
    request : Request
        The Starlette/FastAPI request; its body must not have been read yet.
    limit : int
        Largest body accepted, in bytes (413 above it, declared or streamed).
    media_type : str or None
        The only Content-Type accepted (parameters such as ``charset`` are ignored);
        None accepts any.
    timeout_s : float or None
        Longest time to receive the whole body (408 after it); None waits for ever,
        which only makes sense behind a proxy that buffers bodies.

    Returns
    -------
    bytes
        The body.

    Raises
    ------
    HTTPException
        415 wrong media type, 413 too large, 408 too slow, 400 the client went away
        before the body was complete. The ``detail`` names the limit.
    """
    if media_type is not None:
        check_media_type(request, media_type)
    check_declared_size(request, limit)
    try:
        async with asyncio.timeout(timeout_s):
            return await _read_limited(request, limit)
    except TimeoutError:
        raise _refuse(408, f"The request body did not arrive within {timeout_s:g} s; "
                           "send it faster or in smaller requests.") from None
    except ClientDisconnect:
        raise _refuse(400, "The client disconnected before the whole body arrived.") from None
