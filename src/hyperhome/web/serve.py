"""Serve the app with uvicorn inside the running event loop, beside the home it shows.

```python
async with Home(plan, speed=1) as home, serve(create_app(link), port=8000) as url:
    print(url)                       # http://127.0.0.1:8000/
    await stop.wait()
```

The app's lifespan is entered here, before the socket accepts anything, so a failure to reach
the broker is a ``HyperHomeError`` raised from ``serve`` (not a log line from inside uvicorn) and
the URL is only handed out once the API can answer. Uvicorn runs with ``lifespan="off"`` for
that reason, and without its own signal handlers: Ctrl-C belongs to the CLI, which cancels.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
from collections.abc import AsyncIterator, Generator
from typing import TYPE_CHECKING

import uvicorn

from hyperhome.errors import ConfigError
from hyperhome.web.guard import MAX_BODY_BYTES

if TYPE_CHECKING:
    from fastapi import FastAPI

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
"""The API listens on the loopback interface only: it has no login of its own."""
SHUTDOWN_TIMEOUT_S = 5.0
"""Bound on closing open connections (WebSockets included) when the server stops."""


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        """Leave signals alone: the CLI owns Ctrl-C and SIGTERM (uvicorn would re-raise them)."""
        yield


def bind(port: int) -> socket.socket:
    """A listening socket on 127.0.0.1:``port`` (0: a free one); ConfigError if it is taken."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((HOST, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            msg = f"port {port} on {HOST} is in use: choose another with --api-port N (0 = any free port)"
        else:
            msg = f"cannot listen on {HOST}:{port}: {exc.strerror or exc}"
        raise ConfigError(msg) from None
    sock.setblocking(False)
    return sock


@contextlib.asynccontextmanager
async def serve(app: FastAPI, *, port: int = 8000, sock: socket.socket | None = None) -> AsyncIterator[str]:
    """Run ``app`` on 127.0.0.1:``port`` (or on ``sock``, from ``bind``, which it then closes) until
    the block ends; yields the dashboard's URL."""
    sock = sock or bind(port)
    url = f"http://{HOST}:{sock.getsockname()[1]}/"
    config = uvicorn.Config(
        app,
        lifespan="off",
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=int(SHUTDOWN_TIMEOUT_S),
        ws_max_size=MAX_BODY_BYTES,  # a WebSocket message from a browser, as a request body (1009 beyond)
    )
    server = _Server(config)
    try:
        async with app.router.lifespan_context(app):
            task = asyncio.create_task(server.serve(sockets=[sock]), name=f"web-api:{url}")
            task.add_done_callback(_log_failure)
            try:
                yield url
            finally:
                server.should_exit = True
                try:
                    async with asyncio.timeout(SHUTDOWN_TIMEOUT_S * 2):
                        await asyncio.shield(task)
                except TimeoutError:
                    log.warning("the web API did not stop within %g s; cancelling it", SHUTDOWN_TIMEOUT_S * 2)
                finally:
                    if not task.done():
                        task.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await task
    finally:
        sock.close()


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("the web API stopped with an error", exc_info=task.exception())
