"""Running the server: `serve` (what ``skybutler serve`` does) and `ServerThread` (tests, notebooks, benchmarks)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from skybutler.errors import StorageError
from skybutler.server._app import create_app
from skybutler.server._config import ServerConfig

__all__ = ["ServerThread", "listening_socket", "serve"]


def listening_socket(host: str, port: int) -> socket.socket:
    """A bound socket whose connections send small answers at once (``TCP_NODELAY``).

    uvicorn's h11 protocol writes an answer's head and body separately; with Nagle's algorithm on, the body then
    waits for the client's delayed ACK (about 40 ms on Linux), which made a small remote get take 50 ms.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # inherited by accepted connections
    sock.bind((host, port))
    return sock


def serve(
    config: ServerConfig,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    announce: Callable[[str], None] | None = None,
) -> None:
    """Serve ``config.root`` with uvicorn until interrupted (blocking).

    The repository is opened before the socket is bound, so a bad repository is one error and no listener;
    ``announce`` is then told the URL actually listened on (port 0 picks a free one).  No access log: at the
    ``warning`` level it printed nothing, yet each request formatted its line.
    """
    import uvicorn

    app = create_app(config)
    sock = listening_socket(host, port)
    try:
        if announce is not None:
            bound_host, bound_port = sock.getsockname()[:2]
            announce(f"http://{bound_host}:{bound_port}/api/v1/")
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, timeout_graceful_shutdown=5))
        server.run(sockets=[sock])
    finally:
        sock.close()


class ServerThread:
    """A live server on ``127.0.0.1`` and a free port, in a thread of this process; a context manager.

    Examples
    --------
    >>> with ServerThread(ServerConfig("/data/repo", anonymous_grants=("read:*",))) as server:  # doctest: +SKIP
    ...     butler = Butler(server.url)
    """

    def __init__(self, config: ServerConfig, *, host: str = "127.0.0.1", port: int = 0, **uvicorn_options: Any) -> None:
        import uvicorn

        self.config = config
        self.app = create_app(config)
        self._socket = listening_socket(host, port)
        self.host, self.port = self._socket.getsockname()[:2]
        self.url = f"http://{self.host}:{self.port}"
        options = {"log_level": "warning", "access_log": False, **uvicorn_options}
        self._server = uvicorn.Server(uvicorn.Config(self.app, **options))
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True)

    def start(self) -> ServerThread:
        """Start serving; return once the server accepts connections."""
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise StorageError(f"The server at {self.url} did not start.")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Stop serving and close the repository's connections."""
        self._server.should_exit = True
        self._thread.join(10)
        self._socket.close()
        self.app.state.pool.close()

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
