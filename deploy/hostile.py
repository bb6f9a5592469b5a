"""A bounded hostile-input run against a live server: no request may get a server error, leak a server path or make
the server call out.

    python -m deploy.fuzz --hostile                         # starts a server on data/ocsge.gpkg, attacks it
    python -m deploy.fuzz --hostile --url http://127.0.0.1:5000 --seed 7

schemathesis (``deploy/fuzz.py``) explores what the OpenAPI document describes; attackers send what it does not.
This run sends, in families: deep and wide CQL2 (long AND/OR chains, nested NOT, parentheses and JSON nesting,
huge IN lists and geometries, mutated filters), header variants (``q=0``, malformed quality values, huge headers),
URL tricks (traversal, NUL, overlong request lines, CRS URIs that point at hosts), process inputs that try to make
the server fetch (parser-differential URLs, VRTs, paths outside the data directory) or overflow (nesting,
non-finite numbers, oversized territories), and malformed HTTP over raw sockets. Every URL a case hands to the
server points at a loopback listener started here, which must receive nothing. Seeded: the same seed sends the
same requests.
"""

from __future__ import annotations

import base64
import json
import random
import re
import socket
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import requests

from deploy.listener import Listener, listener

DIFF = "/collections/ocsge-difference/items"
COMMUNES = "/collections/communes/items"
ARTIF = "/processes/artificialisation/execution"
SEGMENT = "/processes/segmentation/execution"
CQL_JSON = {"Content-Type": "application/query-cql-json"}
#: What a client-visible message must never contain: server file paths, tracebacks.
LEAK = re.compile(r"(/tmp/|/var/|/work/|/home/|/root/|/usr/|site-packages|Traceback \(most recent call last\))")
#: A URL a public fetch would read: these must be refused before any connection (documentation addresses).
PUBLIC = "1.1.1.1"


@dataclass(frozen=True)
class Case:
    """One hostile request: sent with requests, or as raw bytes over a socket when HTTP itself is the attack."""

    family: str
    name: str
    method: str = "GET"
    path: str = "/"
    params: tuple[tuple[str, str], ...] = ()
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None
    raw: bytes | None = None


@dataclass
class HostileResult:
    """Counts per family, and every problem found (one line each)."""

    cases: Counter = field(default_factory=Counter)
    #: Answers by class (2xx, 4xx…), ``closed`` for a raw request the server hung up on.
    statuses: Counter = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    listener_hits: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and not self.listener_hits

    def summary(self) -> str:
        families = " ".join(f"{name}={count}" for name, count in sorted(self.cases.items()))
        return (
            f"HOSTILE_RESULT cases={sum(self.cases.values())} problems={len(self.problems)} "
            f"listener_hits={len(self.listener_hits)} ({families}; statuses "
            f"{dict(sorted(self.statuses.items(), key=str))})"
        )


# -- the cases ---------------------------------------------------------------------------------------------------


def _json_body(document: object) -> bytes:
    return json.dumps(document).encode("utf-8")


def _nested(depth: int, leaf: object, wrap: str) -> str:
    """A JSON text nested ``depth`` times, built as text (json.dumps itself would overflow)."""
    opening, closing = {"list": ("[", "]"), "not": ('{"op":"not","args":[', "]}"), "object": ('{"a":', "}")}[wrap]
    return opening * depth + json.dumps(leaf) + closing * depth


def cql2_cases(rng: random.Random) -> Iterator[Case]:
    """Deep, wide, huge and mutated CQL2 filters, in text and JSON, over GET and POST."""
    equal = "code_cs_apres = 'CS1.1.1.1'"
    for terms in (2, 90, 200, 1000):
        for joiner in (" OR ", " AND "):
            text = joiner.join(f"millesime_apres = {2000 + i % 30}" for i in range(terms))
            yield Case("cql2", f"{joiner.strip()}x{terms} text", path=DIFF, params=(("filter", text), ("limit", "1")))
        document = {
            "op": "or",
            "args": [{"op": "=", "args": [{"property": "millesime_apres"}, 2000 + i % 30]} for i in range(terms)],
        }
        yield Case(
            "cql2",
            f"or-x{terms} json post",
            "POST",
            DIFF,
            (("limit", "1"),),
            tuple(CQL_JSON.items()),
            _json_body(document),
        )
    for depth in (90, 500, 5000):
        yield Case(
            "cql2",
            f"not-x{depth} text",
            path=DIFF,
            params=(("filter", "NOT (" * depth + equal + ")" * depth), ("limit", "1")),
        )
        yield Case(
            "cql2",
            f"parentheses-x{depth} text",
            path=DIFF,
            params=(("filter", "(" * depth + equal + ")" * depth), ("limit", "1")),
        )
        yield Case(
            "cql2",
            f"not-x{depth} json post",
            "POST",
            DIFF,
            (("limit", "1"),),
            tuple(CQL_JSON.items()),
            _nested(depth, {"op": "=", "args": [{"property": "millesime_apres"}, 2018]}, "not").encode(),
        )
        yield Case(
            "cql2",
            f"list-x{depth} json get",
            path=DIFF,
            params=(("filter-lang", "cql2-json"), ("filter", '{"op":"=","args":' + _nested(depth, 1, "list") + "}")),
        )
    for count in (5000, 50_000):
        document = {"op": "in", "args": [{"property": "code_cs_apres"}, [f"CS{i}" for i in range(count)]]}
        yield Case(
            "cql2",
            f"in-x{count} json post",
            "POST",
            DIFF,
            (("limit", "1"),),
            tuple(CQL_JSON.items()),
            _json_body(document),
        )
    for vertices in (1000, 20_000):
        ring = [[-1.2 + 0.05 * (i / vertices), 44.6 + 0.01 * ((i * 7919) % 101) / 101] for i in range(vertices)]
        ring.append(ring[0])
        document = {
            "op": "s_intersects",
            "args": [{"property": "geometry"}, {"type": "Polygon", "coordinates": [ring]}],
        }
        yield Case(
            "cql2",
            f"polygon-{vertices}-vertices json post",
            "POST",
            DIFF,
            (("limit", "1"),),
            tuple(CQL_JSON.items()),
            _json_body(document),
        )
    odd_filters = [
        "S_INTERSECTS(geometry,POLYGON((0 0,1 0,1 NaN,0 0)))",
        "S_INTERSECTS(geometry,POINT(1e308 1e308))",
        "S_INTERSECTS(geometry,SRID=999999;POINT(0 0))",
        "BBOX(geometry,-1.2,44.6,-1.1,44.7)",
        "BBOX(geometry,1,2,3)",
        "BBOX(geometry,NaN,0,1,1)",
        "S_WITHIN(geometry,ENVELOPE(-1.2,44.6,-1.1,44.7))",
        "code_cs_apres LIKE '" + "%" * 2000 + "a'",
        "code_cs_apres LIKE '" + "_%" * 500 + "'",
        "CASEI(CASEI(CASEI(code_cs_apres))) = 'cs1'",
        "FOO(code_cs_apres) = 1",
        "\"code_cs_apres\" = 'x'' OR 1=1 --'",
        "code_cs_apres = 'x\u0000y'",
        "millesime_apres BETWEEN 'a' AND 'b'",
        "millesime_apres = 99999999999999999999999",
        "millesime_apres IN ()",
        "NOT NOT NOT",
        "'a' = 'a'",
        "code_cs_apres IS NULL OR",
        "A_CONTAINS(x, [1])",
        "T_INTERSECTS(x, INTERVAL('..','..'))",
        "code_cs_apres = " + "'" * 999,
    ]
    for text in odd_filters:
        yield Case("cql2", f"odd {text[:40]!r}", path=DIFF, params=(("filter", text), ("limit", "2")))
    odd_json = [
        '{"op":"s_intersects","args":[{"property":"geometry"},{"bbox":[1e999,0,1,1]}]}',
        '{"op":"=","args":[{"property":"geometry"},{"type":"Polygon","coordinates":"x"}]}',
        '{"op":"and","args":[]}',
        '{"op":"or"}',
        '{"op":"in","args":[{"property":"nom"},"abc"]}',
        '{"op":"like","args":[{"property":"nom"},{"property":"nom"}]}',
        '{"args":[1,2]}',
        "[]",
        "1",
        '{"op":"=","args":[{"property":"nom"},{"op":"=","args":[1,1]}]}',
        '{"op":"between","args":[1]}',
    ]
    for text in odd_json:
        yield Case(
            "cql2", f"odd json {text[:40]}", path=COMMUNES, params=(("filter", text), ("filter-lang", "cql2-json"))
        )
    seeds = [
        "code_cs_apres IN ('CS1.1.1.1','CS2.2.1') AND millesime_avant BETWEEN 2014 AND 2016",
        "S_INTERSECTS(geometry,POLYGON((-1.17 44.64,-1.15 44.64,-1.15 44.66,-1.17 44.64)))",
        "NOT (nom LIKE 'La%') OR CASEI(nom) = casei('ARCACHON')",
    ]
    alphabet = "()'\",;=<>!%_ \t\n\\\u00e9\u0000\ufffdNOTANDORIN0123456789.-eE"
    for index in range(40):
        text = list(rng.choice(seeds))
        for _ in range(rng.randint(1, 4)):
            position = rng.randrange(len(text) + 1)
            if rng.random() < 0.5 and text:
                del text[min(position, len(text) - 1)]
            else:
                text.insert(position, rng.choice(alphabet))
        path = COMMUNES if "nom" in "".join(text) else DIFF
        yield Case("cql2", f"mutation {index}", path=path, params=(("filter", "".join(text)), ("limit", "3")))


def header_cases() -> Iterator[Case]:
    """Quality values pygeoapi's header parsing divides by, malformed and huge headers."""
    accepts = [
        "text/html;q=0",
        "application/json;q=0",
        "*/*;q=0",
        "application/json;q=abc",
        "text/html;q=-1",
        "application/json;q=1e999",
        "application/json;q=nan",
        "application/json;q=",
        ";q=0.5",
        ",,,;;;",
        "application/json;q=0, text/html;q=0",
        "text/html;level=1;q=0;q=1",
        "a/" + "b" * 6000,
    ]
    for accept in accepts:
        for path in ("/collections", DIFF, "/processes", "/conformance"):
            yield Case("headers", f"Accept {accept[:30]!r} {path}", path=path, headers=(("Accept", accept),))
    languages = ["fr;q=0", "*;q=0", "en;q=abc", "xx-YY-ZZ;q=0.5", "fr-FR;q=1e999", "de;q=-2", "," * 500]
    for language in languages:
        yield Case(
            "headers",
            f"Accept-Language {language[:20]!r}",
            path="/collections",
            headers=(("Accept-Language", language),),
        )
    yield Case(
        "headers",
        "Content-Type junk on items POST",
        "POST",
        DIFF,
        headers=(("Content-Type", 'a/b; c="d'),),
        body=b'{"op":"=","args":[{"property":"millesime_apres"},2018]}',
    )
    yield Case(
        "headers",
        "Prefer junk on execution",
        "POST",
        ARTIF,
        headers=(("Prefer", "respond-async, wait=-1, return=" + "x" * 2000), ("Content-Type", "application/json")),
        body=_json_body({"inputs": {"territoire": {"communes": ["33009"]}, "millesimes": [2021]}}),
    )
    yield Case("headers", "8 KB cookie", path="/collections", headers=(("Cookie", "a=" + "b" * 8000),))


def url_cases(port: int) -> Iterator[Case]:
    """Traversal, NUL bytes, odd formats and CRS URIs that name a host."""
    paths = [
        "/collections/%2e%2e/%2e%2e/etc/passwd",
        "/collections/..%2f..%2fetc%2fpasswd",
        "/collections/ocsge-difference/items/%00",
        "/collections/ocsge-difference/items/1%27%20OR%201=1",
        "/map/../../etc/passwd",
        "/map/static/..%2f..%2f..%2fsetup.py",
        "/map/styles/..%2f..%2fpyproject.toml",
        "/collections/ocsge-difference/tiles/WebMercatorQuad/99/1/1",
        "/jobs/..%2f..%2fetc",
        "/jobs/%00/results",
        "/processes/%2e%2e%2fsegmentation",
        "/collections/" + "a" * 5000,
    ]
    for path in paths:
        yield Case("urls", f"path {path[:50]}", path=path, params=(("f", "json"),))
    host_uris = [
        f"http://127.0.0.1:{port}/crs",
        "file:///etc/passwd",
        "http://www.opengis.net/def/crs/EPSG/0/0",
        "EPSG:2154",
        "urn:ogc:def:crs:EPSG::2154'",
    ]
    for name in ("crs", "bbox-crs", "filter-crs"):
        for uri in host_uris:
            yield Case(
                "urls",
                f"{name}={uri[:40]}",
                path=DIFF,
                params=((name, uri), ("bbox", "-1.2,44.6,-1.1,44.7"), ("filter", "BBOX(geometry,-1.2,44.6,-1.1,44.7)")),
            )
    for name, value in [
        ("limit", "-1"),
        ("limit", "1e9"),
        ("limit", "NaN"),
        ("offset", "99999999999999"),
        ("offset", "-0"),
        ("bbox", "1,2,3,4,5"),
        ("bbox", "nan,0,1,1"),
        ("bbox", "1e300,0,1e301,1"),
        ("f", "../../etc/passwd"),
        ("f", "\u0000"),
        ("lang", "../../x"),
        ("sortby", "-" * 300),
        ("properties", ",".join(["nom"] * 5000)),
        ("skipGeometry", "maybe"),
        ("cursor", "e30"),
        ("cursor", "A" * 5000),
    ]:
        yield Case("urls", f"{name}={value[:30]}", path=COMMUNES, params=((name, value),))
    yield Case(
        "urls",
        "repeated parameters",
        path=COMMUNES,
        params=(("limit", "1"), ("limit", "2"), ("f", "json"), ("f", "html")),
    )
    for size in (10_000, 70_000, 300_000):
        yield Case(
            "urls",
            f"request line of {size} bytes",
            path=DIFF,
            params=(("filter", " OR ".join(["millesime_apres = 2018"] * (size // 22))),),
        )


def _fetch_tricks(port: int) -> list[str]:
    """URLs whose real target is the loopback listener, dressed up to look public to one parser or another."""
    return [
        f"http://127.0.0.1:{port}\\@{PUBLIC}/a.tif",
        f"http://{PUBLIC}\\@127.0.0.1:{port}/a.tif",
        f"http://user:pass@127.0.0.1:{port}/a.tif",
        f"http://127.0.0.1:{port}#@{PUBLIC}/a.tif",
        f"http://127.0.0.1:{port}?@{PUBLIC}/a.tif",
        f"http://2130706433:{port}/a.tif",
        f"http://0x7f.1:{port}/a.tif",
        f"http://0177.0.0.1:{port}/a.tif",
        f"http://127.1:{port}/a.tif",
        f"http://0:{port}/a.tif",
        f"http://[::ffff:127.0.0.1]:{port}/a.tif",
        f"http://[::127.0.0.1]:{port}/a.tif",
        f"http://[64:ff9b::7f00:1]:{port}/a.tif",
        f"http://[2002:7f00:1::]:{port}/a.tif",
        f"http://[::1]:{port}/a.tif",
        f"http://localhost:{port}/a.tif",
        f"http://LOCALHOST.:{port}/a.tif",
        f"HTTP://127.0.0.1:{port}/a.tif",
        f"http:/\\127.0.0.1:{port}/a.tif",
        f"http://127.0.0.1%09:{port}/a.tif",
        f"http://{PUBLIC} &@127.0.0.1:{port}# @{PUBLIC}/a.tif",
        f"http://127.0.0.1:{port}\u3002/a.tif",
        f" http://127.0.0.1:{port}/a.tif",
        f"http://127.0.0.1:{port}/a.tif\r\nX: y",
        "file:///etc/passwd",
        f"ftp://127.0.0.1:{port}/a.tif",
        f"gopher://127.0.0.1:{port}/_x",
        f"/vsicurl/http://127.0.0.1:{port}/a.tif",
    ]


def _vrt(source: str) -> str:
    text = (
        '<VRTDataset rasterXSize="8" rasterYSize="8"><SRS>EPSG:2154</SRS>'
        "<GeoTransform>700000,0.2,0,6300000,0,-0.2</GeoTransform>"
        + "".join(
            f'<VRTRasterBand dataType="Byte" band="{b}"><SimpleSource><SourceFilename relativeToVRT="0">'
            f"{source}</SourceFilename><SourceBand>1</SourceBand></SimpleSource></VRTRasterBand>"
            for b in (1, 2, 3)
        )
        + "</VRTDataset>"
    )
    return base64.b64encode(text.encode()).decode()


def process_cases(port: int) -> Iterator[Case]:
    """Inputs that try to make the server fetch, read outside its data directory, recurse or overflow."""
    json_headers = (("Content-Type", "application/json"),)

    def execute(name: str, path: str, document: object, prefer_async: bool = False) -> Case:
        headers = json_headers + ((("Prefer", "respond-async"),) if prefer_async else ())
        return Case("processes", name, "POST", path, headers=headers, body=_json_body(document))

    for url in _fetch_tricks(port):
        yield execute(f"href {url[:45]!r}", SEGMENT, {"inputs": {"image": {"href": url}}})
        yield execute(
            f"wms {url[:45]!r}",
            SEGMENT,
            {"inputs": {"image": {"wms": {"url": url, "bbox": [770000, 6279000, 770020, 6279020], "resolution": 0.2}}}},
        )
        yield execute(
            f"subscriber {url[:45]!r}",
            ARTIF,
            {
                "inputs": {"territoire": {"communes": ["33009"]}, "millesimes": [2021]},
                "subscriber": {"successUri": url, "failedUri": url},
            },
            prefer_async=True,
        )
    for source in (
        "/etc/hostname",
        "/proc/self/environ",
        f"/vsicurl/http://127.0.0.1:{port}/a.tif",
        f"/vsicurl/http://{PUBLIC}\\@127.0.0.1:{port}/a.tif",
        "../../../../etc/passwd",
    ):
        yield execute(f"VRT value -> {source[:40]}", SEGMENT, {"inputs": {"image": {"value": _vrt(source)}}})
    for path in (
        "../../etc/passwd",
        "/etc/passwd",
        "..%2f..%2fetc%2fpasswd",
        "\u0000",
        "a" * 5000,
        f"/vsicurl/http://127.0.0.1:{port}/a.tif",
    ):
        yield execute(f"path {path[:30]!r}", SEGMENT, {"inputs": {"image": {"path": path}}})
    territories = [
        {"bbox": [-1e300, -1e300, 1e300, 1e300]},
        {"bbox": [-200, 44, 200, 45]},
        {"bbox": [1, 2, 3]},
        {"bbox": ["a", 0, 1, 1]},
        {"communes": ["33009"] * 100_000},
        {"communes": []},
        {"communes": [{"$gt": ""}]},
        {"epci": "' OR 1=1 --"},
        {"departement": "../33"},
        {"geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [0, 0]]]}},
        {"geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1e999], [0, 0]]]}},
        {"geometry": {"type": "GeometryCollection", "geometries": []}},
        {"geometry": "POINT(0 0)"},
        {"communes": ["33009"], "epci": "x"},
    ]
    for territory in territories:
        yield execute(
            f"territoire {json.dumps(territory)[:40]}",
            ARTIF,
            {"inputs": {"territoire": territory, "millesimes": [2021]}},
        )
    ring = [[-1.2 + 0.1 * (i % 1000) / 1000, 44.6 + 0.1 * (i // 1000) / 200] for i in range(200_000)]
    yield execute(
        "territoire of 200 000 vertices",
        ARTIF,
        {
            "inputs": {
                "territoire": {"geometry": {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}},
                "millesimes": [2021],
            }
        },
    )
    odd_documents = [
        {"inputs": {"territoire": {"communes": ["33009"]}, "millesimes": [2**70]}},
        {"inputs": {"territoire": {"communes": ["33009"]}, "millesimes": [2021.5, -1]}},
        {"inputs": {"territoire": {"communes": ["33009"]}, "millesimes": [2021], "detail_communes": "yes"}},
        {"inputs": {"territoire": {"communes": ["33009"]}, "millesimes": [2021]}, "response": "bogus"},
        {"inputs": {"territoire": {"communes": ["33009"]}, "millesimes": [2021]}, "outputs": [1]},
        {"inputs": {"territoire": {"communes": ["33009"]}, "millesimes": [2021]}, "outputs": {"x" * 1000: {}}},
        {"inputs": {"territoire": {"communes": ["33009"]}, "millesimes": [2021]}, "subscriber": {"successUri": 12}},
        {
            "inputs": {"territoire": {"communes": ["33009"]}, "millesimes": [2021]},
            "subscriber": {"successUri": ["http://a"]},
        },
        {"inputs": {"territoire": {"communes": ["33009"]}, "millesimes": [2021]}, "subscriber": "x"},
        {"inputs": {"territoire": {"communes": ["33009"]}, "millesimes": [2021]}, "mode": {"a": 1}},
        {"inputs": {"image": {"href": 12}}},
        {"inputs": {"image": {"value": "!!!"}}},
        {"inputs": {"image": {"wms": {"url": "x", "bbox": [0, 0, 1e300, 1e300]}}}},
        {"inputs": {"image": {"wms": {"url": "x", "bbox": [0, 0, 1, 1], "resolution": 0}}}},
    ]
    for index, document in enumerate(odd_documents):
        target = SEGMENT if "image" in document["inputs"] else ARTIF
        yield execute(f"document {index} {json.dumps(document)[:50]}", target, document)
    for depth in (100, 1000, 50_000):
        for wrap in ("list", "object"):
            text = ('{"inputs":{"territoire":' + _nested(depth, "x", wrap) + ',"millesimes":[2021]}}').encode()
            yield Case("processes", f"execution nested {wrap} x{depth}", "POST", ARTIF, headers=json_headers, body=text)


def protocol_cases() -> Iterator[Case]:
    """Malformed HTTP sent as raw bytes: the server answers a 4xx or closes; it never errs or stops serving."""
    requests_ = [
        b"GET /collections HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
        b"GET /collections HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
        b"POST /collections/communes/items HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\n{}",
        b"POST /collections/communes/items HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
        b"Content-Length: 3\r\n\r\nzz\r\n",
        b"POST /processes/artificialisation/execution HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"fffffffffffffffff\r\n",
        b"GET /collections HTTP/1.1\r\nHost: x\r\nBroken header line\r\n\r\n",
        b"GET /collections HTTP/1.1\r\nHost: x\r\nX: a\x00b\r\n\r\n",
        b"GET /coll ections HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /collections HTTP/9.9\r\nHost: x\r\n\r\n",
        b"BREW /collections HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /collections\r\n\r\n",
        b"GET /collections HTTP/1.1\r\n" + b"".join(b"X-%d: %s\r\n" % (i, b"a" * 100) for i in range(200)) + b"\r\n",
        b"GET /collections HTTP/1.1\r\nHost: x\r\nX: " + b"a" * 20_000 + b"\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",  # a TLS ClientHello on the plain port
    ]
    for index, raw in enumerate(requests_):
        yield Case("protocol", f"raw {index}: {raw[:40]!r}", raw=raw)


def all_cases(port: int, seed: int) -> list[Case]:
    """Every case of the run, in a fixed order for ``seed``."""
    rng = random.Random(seed)
    return [*cql2_cases(rng), *header_cases(), *url_cases(port), *process_cases(port), *protocol_cases()]


# -- running them ------------------------------------------------------------------------------------------------


def _send_raw(server: str, raw: bytes, timeout_s: float) -> int | None:
    """The status line's code of the answer to ``raw``, or None when the server closed without one."""
    parts = urlsplit(server)
    with socket.create_connection((parts.hostname, parts.port), timeout=timeout_s) as sock:
        sock.sendall(raw)
        try:
            sock.shutdown(socket.SHUT_WR)
            answer = sock.recv(64)
        except OSError:
            return None
    match = re.match(rb"HTTP/\d\.\d (\d{3})", answer)
    return int(match[1]) if match else None


def _check(case: Case, status: int, content_type: str, body: bytes) -> list[str]:
    """What is wrong with one answer: a server error, a non-OGC error body, a leaked path."""
    problems = []
    text = body[:20_000].decode("utf-8", "replace")
    if status >= 500:
        problems.append(f"HTTP {status}")
    wanted_html = any(
        "html" in value
        for name, value in (*case.headers, *case.params)
        if name in ("Accept", "f") and "q=0" not in value
    )
    if status >= 400 and case.path not in ("/",) and not wanted_html:
        try:
            document = json.loads(text)
            if not isinstance(document, dict) or not {"code", "description"} <= document.keys():
                raise ValueError
        except ValueError:
            problems.append(f"HTTP {status} without an OGC exception body ({content_type}: {text[:120]!r})")
    leak = LEAK.search(text)
    if leak:
        problems.append(f"HTTP {status} shows {leak[0]!r}: {text[max(0, leak.start() - 60) : leak.end() + 60]!r}")
    return problems


def run_case(server: str, case: Case, timeout_s: float) -> tuple[int | None, list[str]]:
    """Send one case; its status (None for a closed raw connection) and what is wrong with the answer."""
    if case.raw is not None:
        status = _send_raw(server, case.raw, timeout_s)
        return status, ([f"HTTP {status}"] if status is not None and status >= 500 else [])
    try:
        response = requests.request(
            case.method,
            server + case.path,
            params=list(case.params),
            headers=dict(case.headers),
            data=case.body,
            timeout=timeout_s,
            allow_redirects=False,
        )
    except requests.RequestException as err:
        return None, [f"no answer: {type(err).__name__} {str(err)[:200]}"]
    return response.status_code, _check(
        case, response.status_code, response.headers.get("Content-Type", ""), response.content
    )


def attack(server: str, heard: Listener, seed: int = 1, timeout_s: float = 120) -> HostileResult:
    """Run every case against ``server`` (a live base URL) and collect what went wrong."""
    result = HostileResult()
    for case in all_cases(heard.port, seed):
        status, problems = run_case(server, case, timeout_s)
        result.cases[case.family] += 1
        result.statuses["closed" if status is None else f"{status // 100}xx"] += 1
        result.problems.extend(f"[{case.family}] {case.name}: {problem}" for problem in problems)
    still_up = requests.get(f"{server}/conformance", params={"f": "json"}, timeout=timeout_s)
    if still_up.status_code != 200:
        result.problems.append(f"the server no longer answers /conformance after the run: {still_up.status_code}")
    time.sleep(1)  # a callback or fetch in flight when the run ends still reaches the listener
    result.listener_hits = [f"connection from {host}:{port}" for host, port in heard.connections] + [
        f"request {path} (Host {host})" for path, host, _ in heard.requests
    ]
    return result


def run(server: str, seed: int = 1) -> HostileResult:
    """The whole hostile run against ``server`` with a fresh loopback listener."""
    with listener() as heard:
        return attack(server, heard, seed)
