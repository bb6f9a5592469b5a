"""Request body limits on a live server: a body over the limit gets a 413 OGC exception before it is read."""

from __future__ import annotations

import http.client
import json
import socket
from urllib.parse import urlsplit

from ocsge_processes.server.limits import DEFAULT_EXECUTION_LIMIT, DEFAULT_LIMIT

EXECUTION = "/processes/artificialisation/execution"
ITEMS = "/collections/ocsge-occupation-sol/items"


def _raw(server: str, head: str, body_parts: list[bytes] = ()) -> tuple[int, dict]:
    """Send a hand-written request (the body only in part, or chunked), then read the answer."""
    address = urlsplit(server)
    with socket.create_connection((address.hostname, address.port), timeout=30) as sock:
        sock.sendall(head.encode("ascii"))
        try:
            for part in body_parts:
                sock.sendall(part)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed without reading the rest: what we test
        response = http.client.HTTPResponse(sock)
        response.begin()
        return response.status, json.loads(response.read())


def test_declared_oversized_execution_is_refused_unread(server):
    """A Content-Length over 32 MiB is refused from the headers alone: we send 1 KiB of a 40 MiB body."""
    size = 40 * 1024 * 1024
    status, body = _raw(
        server,
        f"POST {EXECUTION} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {size}\r\n\r\n",
        [b"{" * 1024],
    )
    assert status == 413
    assert body["code"] == "RequestEntityTooLarge"
    assert f"{size} bytes" in body["description"] and str(DEFAULT_EXECUTION_LIMIT) in body["description"]


def test_chunked_body_over_the_items_limit_is_refused(server):
    chunk = b"x" * 65536
    parts = [b"%x\r\n%s\r\n" % (len(chunk), chunk)] * (DEFAULT_LIMIT // len(chunk) + 4) + [b"0\r\n\r\n"]
    status, body = _raw(
        server,
        f"POST {ITEMS} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
        parts,
    )
    assert status == 413
    assert "chunked request body" in body["description"] and str(DEFAULT_LIMIT) in body["description"]


def test_chunked_body_under_the_limit_reaches_the_server(server):
    """A small chunked CQL2 JSON filter is read, given a length and answered like a plain one."""
    query = json.dumps({"op": "=", "args": [{"property": "code_cs"}, "CS1.1.1.1"]}).encode()
    parts = [b"%x\r\n%s\r\n" % (len(query), query), b"0\r\n\r\n"]
    status, body = _raw(
        server,
        f"POST {ITEMS}?limit=3 HTTP/1.1\r\nHost: x\r\n"
        "Content-Type: application/query-cql-json\r\nTransfer-Encoding: chunked\r\n"
        "Connection: close\r\n\r\n",
        parts,
    )
    assert status == 200, body
    assert body["features"] and all(f["properties"]["code_cs"] == "CS1.1.1.1" for f in body["features"])


def test_execution_under_the_limit_is_executed(server):
    """Bodies between the items limit (1 MiB) and the execution limit (32 MiB) reach the process."""
    padding = " " * (2 * DEFAULT_LIMIT)
    request = json.dumps({"inputs": {"territoire": {"communes": ["33009"]}, "millesimes": [2021, 2024]}}) + padding
    address = urlsplit(server)
    conn = http.client.HTTPConnection(address.hostname, address.port, timeout=120)
    conn.request("POST", EXECUTION, body=request.encode(), headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    assert response.status == 200, response.read()
    assert json.loads(response.read())["territoires"][0]["surface_ha"] > 0
