"""What the web API lets in: this machine's Host, its own Origin, bodies within the wire's limits.

``guard(app)`` installs it all on the FastAPI app (docs/web.md, "Security"):

- ``Host`` must name this machine (``127.0.0.1``, ``localhost``, ``[::1]``), checked by
  Starlette's ``TrustedHostMiddleware`` (400 otherwise: DNS rebinding). Its parser refuses
  what is not a host and a port (``127.0.0.1:8000@evil.example``).
- ``Origin``, when a request carries one, must be the server's own origin: the scheme the
  request came over, a local host name, and the port the server listens on. Checked for every
  WebSocket handshake (refused with 403) and every request that may change something (403
  ``cross_origin``); ``GET`` stays readable by scripts, and a browser's page on another site
  cannot read it (no CORS headers).
- Request bodies: at most ``MAX_BODY_BYTES`` (413 ``too_large``): refused at once when
  ``Content-Length`` says more, and counted as they are read (Starlette's
  ``RequestBodyLimitMiddleware``), so a chunked body cannot pass either. JSON is decoded as every HyperHome payload is
  (``wire.loads``: nesting, finite numbers; 400 ``bad_request``).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from fastapi import Request, Response
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.middleware.body_limit import RequestBodyLimitMiddleware
from starlette.middleware.trustedhost import TrustedHostMiddleware

from hyperhome.broker.wire import PayloadError, loads
from hyperhome.web.models import ErrorBody

if TYPE_CHECKING:
    from fastapi import FastAPI
    from starlette.types import ASGIApp, Receive, Scope, Send

MAX_BODY_BYTES = 64 * 1024
"""Largest request body (and WebSocket message): a command's args are a few hundred bytes."""
LOCAL_HOSTS = ("127.0.0.1", "localhost", "[::1]")
"""Host names the API answers to (as a ``Host`` header writes them)."""
_ORIGIN_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
"""The same, as ``urlsplit(origin).hostname`` reads them."""
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_DEFAULT_PORTS = {"http": 80, "https": 443}


def guard(app: FastAPI) -> None:
    """Install the checks of the module docstring on ``app`` (before its routes are added)."""
    app.router.route_class = WireJsonRoute
    app.add_exception_handler(HTTPException, _http_error)
    app.add_middleware(RequestBodyLimitMiddleware, max_body_size=MAX_BODY_BYTES)
    app.add_middleware(LocalOnly)  # outside the limit: a declared length too large is answered here, as JSON
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(LOCAL_HOSTS), www_redirect=False)


def own_origin(origin: str | None, scope: Scope) -> bool:
    """No Origin (curl, httpx, scripts) or exactly the server's own; never another site's."""
    if origin is None:
        return True
    server = scope.get("server")
    if not server:
        return False
    scheme = "https" if scope.get("scheme") in ("https", "wss") else "http"
    parts = urlsplit(origin)
    try:
        port = parts.port or _DEFAULT_PORTS.get(parts.scheme)
    except ValueError:  # not a port
        return False
    return (
        parts.scheme == scheme
        and parts.hostname in _ORIGIN_HOSTS
        and port == server[1]
        and parts.username is None
        and parts.password is None
        and not (parts.path or parts.query or parts.fragment)
    )


class LocalOnly:
    """ASGI middleware: WebSocket handshakes and changing requests only from the server's own origin;
    a body that says it is too large is refused before it is read."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        checked = kind == "websocket" or (kind == "http" and scope["method"] not in _SAFE_METHODS)
        if checked and not own_origin(Headers(scope=scope).get("origin"), scope):
            if kind == "websocket":  # closing before accepting: the server answers the handshake 403
                await send({"type": "websocket.close", "code": 1008, "reason": "refused: not this server's origin"})
                return
            refusal = _error(HTTPStatus.FORBIDDEN, "cross_origin", "requests from other sites are refused")
            await refusal(scope, receive, send)
            return
        length = Headers(scope=scope).get("content-length") if kind == "http" else None
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY_BYTES):
            await _too_large()(scope, receive, send)
            return
        await self.app(scope, receive, send)


class BadBody(HTTPException):
    """A request body that is not a payload HyperHome reads (400 ``bad_request``)."""

    def __init__(self, reason: str) -> None:
        super().__init__(HTTPStatus.BAD_REQUEST, reason)


class WireRequest(Request):
    """A request whose JSON body is read by ``wire.loads``, as every payload HyperHome reads."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            try:
                self._json = loads(await self.body())
            except PayloadError as exc:
                msg = f"request body: {exc}"
                raise BadBody(msg) from None
        return self._json


class WireJsonRoute(APIRoute):
    """A route that hands FastAPI a ``WireRequest``, so its body is decoded within the limits."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def wire_json(request: Request) -> Response:
            return await handler(WireRequest(request.scope, request.receive))

        return wire_json


async def _http_error(request: Request, exc: Exception) -> Response:
    """Starlette's and FastAPI's own HTTP errors; the body limit's and ``BadBody`` as ``ErrorBody``."""
    assert isinstance(exc, HTTPException)
    if isinstance(exc, BadBody):
        return _error(exc.status_code, "bad_request", exc.detail)
    if exc.status_code == HTTPStatus.REQUEST_ENTITY_TOO_LARGE:
        return _too_large()
    return await http_exception_handler(request, exc)


def _too_large() -> Response:
    detail = f"a request body has at most {MAX_BODY_BYTES} bytes"
    return _error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "too_large", detail)


def _error(status_code: int, code: str, detail: str) -> Response:
    return JSONResponse(ErrorBody(detail=detail, code=code).model_dump(mode="json"), status_code=status_code)
