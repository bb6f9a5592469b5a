"""A loopback HTTP listener for the SSRF tests and the hostile run: it records every connection it accepts (before
any byte is read) and every request, and answers GET, HEAD and byte ranges from a table of bodies, so a test can
assert that the server called it — or not.
"""

from __future__ import annotations

import re
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


@dataclass
class Listener:
    """What the listener saw: connections accepted, and (path, Host header, body) of each request."""

    port: int
    connections: list[tuple[str, int]] = field(default_factory=list)
    requests: list[tuple[str, str, bytes]] = field(default_factory=list)
    bodies: dict[str, tuple[str, bytes]] = field(default_factory=dict)

    def received_nothing(self) -> bool:
        return not self.connections and not self.requests


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    record: Listener

    def verify_request(self, request: object, client_address: tuple[str, int]) -> bool:
        self.record.connections.append(client_address)
        return True


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def _answer(self) -> None:
        record = self.server.record
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        record.requests.append((self.path, self.headers.get("Host", ""), body))
        media, content = record.bodies.get(self.path.partition("?")[0], ("text/plain", b"ok"))
        status = 200
        if media == "redirect":  # content is the Location
            status, location, content = 302, content.decode(), b""
        ranged = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
        if ranged and status == 200:  # byte ranges, as GDAL's /vsicurl/ reads files
            start, end = int(ranged[1]), int(ranged[2] or len(content) - 1)
            status, total, content = 206, len(content), content[start : end + 1]
        self.send_response(status)
        if status == 302:
            self.send_header("Location", location)
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{start + len(content) - 1}/{total}")
        self.send_header("Content-Type", media)
        self.send_header("Content-Length", str(len(content)))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(content)

    do_GET = do_POST = do_HEAD = _answer

    def log_message(self, *_args: object) -> None:
        """Quiet: the test reads the record."""


@contextmanager
def listener(
    bodies: dict[str, tuple[str, bytes]] | None = None, tls: tuple[Path, Path] | None = None
) -> Iterator[Listener]:
    """A listener on a free 127.0.0.1 port answering ``bodies`` (path → (media type, bytes); media type
    ``redirect``: a 302 to the bytes as Location); over TLS with ``tls`` = (certificate, key)."""
    server = _Server(("127.0.0.1", 0), _Handler)
    if tls:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*tls)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    server.record = Listener(server.server_address[1], bodies=dict(bodies or {}))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.record
    finally:
        server.shutdown()
        server.server_close()
