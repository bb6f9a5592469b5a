"""A minimal CGI gateway for MapServer in tests: each GET runs ``mapserv`` with the query string and returns what it
printed. (Python's own CGI server forks a child that cannot re-import itself from a virtualenv here.)

Usage: python tests/wms_gateway.py PORT MAPSERV CONFIG_FILE
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Gateway(BaseHTTPRequestHandler):
    mapserv = ""
    config = ""

    def do_GET(self) -> None:
        env = {
            **os.environ,
            "REQUEST_METHOD": "GET",
            "QUERY_STRING": self.path.partition("?")[2],
            "MAPSERVER_CONFIG_FILE": self.config,
        }
        output = subprocess.run([self.mapserv], env=env, capture_output=True, check=False).stdout
        head, body = re.split(rb"\r?\n\r?\n", output, maxsplit=1) if output else (b"", b"")
        self.send_response(200)
        for line in head.splitlines():
            name, _, value = line.decode("latin-1").partition(":")
            self.send_header(name.strip(), value.strip())
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Access-Control-Allow-Origin", "*")  # as the Géoplateforme does: web maps read the images
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        """Quiet: the tests read answers, not access logs."""


if __name__ == "__main__":
    Gateway.mapserv, Gateway.config = sys.argv[2], sys.argv[3]
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Gateway).serve_forever()
