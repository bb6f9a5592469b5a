"""The outbound-URL policy (ocsge_processes.outbound): every URL trick, every address class, the single resolution
and the pinned connection; then over a live server, with a loopback listener that must receive nothing from the
segmentation ``href``, ``wms.url`` and job subscriber callbacks, and an OpenAPI document whose examples call only
loopback addresses.

Resolvers passed to ``check`` stand in for DNS where a real answer cannot be had offline (a name resolving to both a
public and a private address, a name that exists nowhere): the real resolver is used everywhere else.
"""

from __future__ import annotations

import ipaddress
import json
import re
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from deploy.listener import listener
from deploy.services import web_server
from ocsge_processes import outbound
from ocsge_processes.errors import InvalidInputError
from ocsge_processes.jobs import callbacks

from ..conftest import BIN, SHARED

RGB = SHARED / "montpellier-ortho-lidar" / "ortho" / "test_data_rgb.tif"
IRC = SHARED / "montpellier-ortho-lidar" / "ortho" / "test_data_irc.tif"
BBOX = [770549.8, 6277549.8, 770600.2, 6277600.2]


def _resolver(*addresses: str):
    """getaddrinfo's answer for any name: ``addresses`` in that order."""

    def resolve(host: str, port: int, family: int = 0, kind: int = 0) -> list[tuple]:
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in addresses
        ]

    return resolve


PUBLIC = _resolver("93.184.215.14")

REFUSED = [
    ("http://127.0.0.1:8766\\@1.1.1.1/a.tif", "backslash"),
    ("http://1.1.1.1\\@127.0.0.1/a.tif", "backslash"),
    ("http://user:pw@1.1.1.1/a.tif", "user information"),
    ("http://1.1.1.1@127.0.0.1/a.tif", "user information"),
    ("http://1.1.1.1%2f@127.0.0.1/", "user information"),
    ("http://127.0.0.1:80@1.1.1.1/", "user information"),
    ("http://2130706433/a.tif", "not a dotted-quad"),
    ("http://0x7f.1/a.tif", "not a dotted-quad"),
    ("http://0x7f000001/a.tif", "not a dotted-quad"),
    ("http://0177.0.0.1/a.tif", "not a dotted-quad"),
    ("http://127.1/a.tif", "not a dotted-quad"),
    ("http://127.0.0.1./a.tif", "not a valid host name"),
    ("http://localhost./a.tif", "not a valid host name"),
    ("http://exa mple.com/", "whitespace"),
    ("http://1.1.1.1/a\r\nHost: 127.0.0.1", "whitespace or control"),
    ("http://1.1.1.1/\x00", "control"),
    ("http://ⓛocalhost/", "non-ASCII"),
    ("http://[fe80::1%25eth0]/", "zone id"),
    ("http://[::1/", "IPv6 literal"),
    ("http://::1/", "IPv6 host must be in brackets"),
    ("http://1.1.1.1:99999/", "invalid port"),
    ("http://1.1.1.1:/", "invalid port"),
    ("http://1.1.1.1:8o/", "invalid port"),
    ("file:///etc/passwd", "not an absolute http(s) URL"),
    ("ftp://1.1.1.1/a.tif", "not an absolute http(s) URL"),
    ("gopher://127.0.0.1:6379/_INFO", "not an absolute http(s) URL"),
    ("//1.1.1.1/a.tif", "not an absolute http(s) URL"),
    ("http:1.1.1.1/a.tif", "not an absolute http(s) URL"),
    ("http:/1.1.1.1/a.tif", "not an absolute http(s) URL"),
    (12, "not an absolute http(s) URL"),
    (["http://1.1.1.1/"], "not an absolute http(s) URL"),
    ("http://" + "a" * 3000 + ".com/", "longer than"),
]


@pytest.mark.parametrize(("url", "message"), REFUSED, ids=[repr(u)[:60] for u, _ in REFUSED])
def test_urls_the_parsers_could_read_differently_are_refused(url: object, message: str) -> None:
    with pytest.raises(InvalidInputError, match=re.escape(message)):
        outbound.check(url, resolve=PUBLIC)
    with pytest.raises(InvalidInputError):  # trust changes nothing about the form of a URL
        outbound.check(url, trusted_hosts={"1.1.1.1", "127.0.0.1", "localhost"}, allow_internal=True, resolve=PUBLIC)


ADDRESSES = [
    ("127.0.0.1", "loopback"),
    ("127.255.0.9", "loopback"),
    ("::1", "loopback"),
    ("10.1.2.3", "private"),
    ("172.16.0.1", "private"),
    ("192.168.1.1", "private"),
    ("100.64.0.1", "private"),
    ("fd00::1", "private"),
    ("169.254.169.254", "link-local"),
    ("fe80::1", "link-local"),
    ("fec0::1", "site-local"),
    ("192.0.0.8", "private"),
    ("198.18.0.1", "private"),
    ("2001:db8::1", "private"),
    ("::ffff:127.0.0.1", "IPv4-mapped IPv6 address embedding 127.0.0.1"),
    ("::ffff:8.8.8.8", "IPv4-mapped IPv6 address embedding 8.8.8.8"),
    ("::127.0.0.1", "IPv4-compatible IPv6 address embedding 127.0.0.1"),
    ("::8.8.8.8", "IPv4-compatible IPv6 address embedding 8.8.8.8"),
    ("64:ff9b::a9fe:a9fe", "NAT64 address embedding 169.254.169.254"),
    ("64:ff9b::808:808", "NAT64 address embedding 8.8.8.8"),
    ("64:ff9b:1::a00:1", "NAT64 address embedding 10.0.0.1"),
    ("2002:7f00:1::1", "6to4 address embedding 127.0.0.1"),
    ("2002:808:808::1", "6to4 address embedding 8.8.8.8"),
    ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo address embedding"),
]


@pytest.mark.parametrize(("address", "kind"), ADDRESSES, ids=[a for a, _ in ADDRESSES])
def test_internal_and_transition_addresses_are_refused_unless_trusted(address: str, kind: str) -> None:
    host = f"[{address}]" if ":" in address else address
    with pytest.raises(InvalidInputError, match=re.escape(kind)):
        outbound.check(f"http://{host}:8080/a.tif")
    with pytest.raises(InvalidInputError, match=re.escape(kind)):  # the same address behind a name
        outbound.check("http://ortho.example/a.tif", resolve=_resolver(address))
    allowed = outbound.check(f"http://{host}:8080/a.tif", allow_internal=True)
    assert allowed.addresses == (ipaddress.ip_address(address),)
    trusted = outbound.check("http://ortho.example/a.tif", trusted_hosts={"ORTHO.example"}, resolve=_resolver(address))
    assert trusted.addresses == (ipaddress.ip_address(address),)


NEVER = [
    "0.0.0.0",
    "0.1.2.3",
    "224.0.0.1",
    "239.255.255.250",
    "240.0.0.1",
    "255.255.255.255",
    "::",
    "ff02::1",
    "::ffff:0.0.0.0",
    "::ffff:224.0.0.1",
]


@pytest.mark.parametrize("address", NEVER)
def test_unspecified_multicast_and_reserved_addresses_are_refused_even_when_trusted(address: str) -> None:
    host = f"[{address}]" if ":" in address else address
    with pytest.raises(InvalidInputError, match="never calls"):
        outbound.check(f"http://{host}/", trusted_hosts={host, address}, allow_internal=True)


def test_names_resolving_to_loopback_are_refused_by_the_real_resolver() -> None:
    with pytest.raises(InvalidInputError, match="loopback"):
        outbound.check("http://localhost:8080/a.tif")
    assert all(a.is_loopback for a in outbound.check("http://localhost/", trusted_hosts={"localhost"}).addresses)


def test_a_name_with_one_private_address_among_public_ones_is_refused() -> None:
    with pytest.raises(InvalidInputError, match=r"10\.0\.0\.7, private"):
        outbound.check("http://mixed.example/a.tif", resolve=_resolver("93.184.215.14", "10.0.0.7"))
    with pytest.raises(InvalidInputError, match=r"::1, loopback"):
        outbound.check("http://mixed.example/a.tif", resolve=_resolver("2606:4700::1111", "::1"))


def test_public_urls_pass_with_every_address_checked() -> None:
    checked = outbound.check(
        "HTTPS://Ortho.Example:8443/wms?LAYERS=a#frag", resolve=_resolver("93.184.215.14", "2606:4700::1111")
    )
    assert (checked.url.scheme, checked.url.host, checked.url.port, checked.url.rest) == (
        "https",
        "ortho.example",
        8443,
        "/wms?LAYERS=a",
    )
    assert checked.addresses == (ipaddress.ip_address("93.184.215.14"), ipaddress.ip_address("2606:4700::1111"))
    assert checked.url.host_header == "ortho.example:8443"
    assert outbound.check("http://1.1.1.1/a.tif").addresses == (ipaddress.ip_address("1.1.1.1"),)
    assert outbound.check("http://[2606:4700:4700::1111]/").url.host_header == "[2606:4700:4700::1111]"


def test_unresolvable_names_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="does not resolve"):
        outbound.check("http://no-such-host.invalid/a.tif")


def test_loopback_only_mode_refuses_every_public_address(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OCSGE_OUTBOUND_LOOPBACK_ONLY", "1")
    with pytest.raises(InvalidInputError, match="loopback addresses only"):
        outbound.check("http://1.1.1.1/a.tif")
    with pytest.raises(InvalidInputError, match="loopback addresses only"):
        outbound.check("http://10.0.0.1/a.tif", allow_internal=True)
    assert outbound.check("http://127.0.0.1:9/", allow_internal=True).addresses[0].is_loopback


def test_the_connection_goes_to_the_checked_address_with_the_name_in_the_host_header() -> None:
    with listener({"/a.tif": ("image/tiff", b"pixels")}) as heard:
        # The name exists nowhere: only the address checked from the one resolution can be reached.
        destination = outbound.check(
            f"http://ortho.invalid:{heard.port}/a.tif", allow_internal=True, resolve=_resolver("127.0.0.1")
        )
        response = outbound.request("GET", destination, 10, params={"LAYERS": "x"})
        assert response.status_code == 200 and response.content == b"pixels"
    assert heard.requests == [("/a.tif?LAYERS=x", f"ortho.invalid:{heard.port}", b"")]


def test_the_next_checked_address_is_tried_when_one_refuses_the_connection() -> None:
    with listener() as heard:
        # 127.0.0.2 is loopback too, but the listener is bound to 127.0.0.1 only: that connection is refused.
        destination = outbound.check(
            f"http://ortho.invalid:{heard.port}/cb", allow_internal=True, resolve=_resolver("127.0.0.2", "127.0.0.1")
        )
        assert outbound.request("POST", destination, 10, json={"a": 1}).status_code == 200
    assert [body for _, _, body in heard.requests] == [b'{"a": 1}']


def test_redirects_are_not_followed() -> None:
    with listener({"/a.tif": ("redirect", b"http://127.0.0.1:9/elsewhere.tif")}) as heard:
        destination = outbound.check(f"http://127.0.0.1:{heard.port}/a.tif", allow_internal=True)
        response = outbound.request("GET", destination, 10)
        assert response.status_code == 302 and len(heard.requests) == 1


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    """Self-signed certificates for ortho.test and for another name (openssl)."""
    folder = tmp_path_factory.mktemp("tls")
    made = {}
    for name in ("ortho.test", "other.test"):
        cert, key = folder / f"{name}.pem", folder / f"{name}.key"
        subprocess.run(
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "1",
                "-subj",
                f"/CN={name}",
                "-addext",
                f"subjectAltName=DNS:{name}",
                "-keyout",
                str(key),
                "-out",
                str(cert),
            ],
            check=True,
            capture_output=True,
        )
        made[name] = (cert, key)
    return made


def test_tls_is_verified_against_the_checked_name_not_the_address(certificates: dict) -> None:
    cert = certificates["ortho.test"][0]
    with listener(tls=certificates["ortho.test"]) as heard:
        destination = outbound.check(
            f"https://ortho.test:{heard.port}/a", allow_internal=True, resolve=_resolver("127.0.0.1")
        )
        assert outbound.request("GET", destination, 10, verify=str(cert)).status_code == 200
    with listener(tls=certificates["other.test"]) as heard:
        destination = outbound.check(
            f"https://ortho.test:{heard.port}/a", allow_internal=True, resolve=_resolver("127.0.0.1")
        )
        with pytest.raises(requests.exceptions.SSLError):
            outbound.request("GET", destination, 10, verify=str(certificates["other.test"][0]))


def test_callback_refusal_uses_the_policy() -> None:
    assert "backslash" in callbacks.refusal("http://127.0.0.1:8766\\@1.1.1.1/done", allow_internal=True)
    assert "user information" in callbacks.refusal("http://1.1.1.1@127.0.0.1/done")
    assert "not an absolute http(s) URL" in callbacks.refusal(12)
    assert callbacks.refusal("http://1.1.1.1/done") is None


# -- over a live server --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server as the tests start them (loopback-only outbound, example WMS on loopback) trusting ``localhost``,
    on an empty store (the processes under test need none)."""
    folder = tmp_path_factory.mktemp("outbound-server")
    with web_server(
        str(folder / "empty.gpkg"), folder, BIN, OCSGE_DATA_DIR=str(SHARED), OCSGE_TRUSTED_HOSTS="localhost"
    ) as url:
        yield url


def _execute(server: str, body: dict, prefer_async: bool = False) -> requests.Response:
    headers = {"Prefer": "respond-async"} if prefer_async else {}
    return requests.post(f"{server}/processes/segmentation/execution", json=body, headers=headers, timeout=300)


def _tricks(port: int) -> list[str]:
    """URLs aimed at the listener on 127.0.0.1:``port`` that a naive check takes for public addresses."""
    return [
        f"http://127.0.0.1:{port}\\@1.1.1.1/a.tif",
        f"http://localhost:{port}\\@1.1.1.1/a.tif",
        f"http://1.1.1.1@127.0.0.1:{port}/a.tif",
        f"http://2130706433:{port}/a.tif",
        f"http://0x7f.1:{port}/a.tif",
        f"http://[::ffff:127.0.0.1]:{port}/a.tif",
        f"http://0.0.0.0:{port}/a.tif",
        f"http://127.0.0.1:{port}/a.tif",
    ]


def test_image_href_tricks_reach_nothing(live: str) -> None:
    with listener() as heard:
        for url in _tricks(heard.port):
            response = _execute(live, {"inputs": {"image": {"href": url}}})
            assert response.status_code == 400, (url, response.text[:300])
        assert heard.received_nothing(), heard


def test_wms_url_tricks_reach_nothing(live: str) -> None:
    with listener() as heard:
        for url in _tricks(heard.port):
            response = _execute(live, {"inputs": {"image": {"wms": {"url": url, "bbox": BBOX, "resolution": 0.2}}}})
            assert response.status_code == 400, (url, response.text[:300])
        assert heard.received_nothing(), heard


@pytest.mark.parametrize("field", ["successUri", "inProgressUri", "failedUri"])
def test_subscriber_tricks_are_refused_and_never_called(live: str, field: str) -> None:
    path_inputs = {
        "image": {"path": "montpellier-ortho-lidar/ortho/test_data_rgb.tif"},
        "irc": {"path": "montpellier-ortho-lidar/ortho/test_data_irc.tif"},
    }
    with listener() as heard:
        for url in _tricks(heard.port):
            response = _execute(live, {"inputs": path_inputs, "subscriber": {field: url}}, prefer_async=True)
            assert response.status_code == 400, (url, response.text[:300])
        time.sleep(1)  # a job would have had time to start and call back
        assert heard.received_nothing(), heard


def test_a_trusted_host_is_fetched_through_the_pinned_connection(live: str) -> None:
    """The control for the tests above: the same listener, named by a trusted host, does receive the request."""
    with listener(
        {"/rgb.tif": ("image/tiff", RGB.read_bytes()), "/irc.tif": ("image/tiff", IRC.read_bytes())}
    ) as heard:
        response = _execute(
            live,
            {
                "inputs": {
                    "image": {"href": f"http://localhost:{heard.port}/rgb.tif"},
                    "irc": {"href": f"http://localhost:{heard.port}/irc.tif"},
                }
            },
        )
        assert response.status_code == 200, response.text[:300]
    assert sorted((path, host) for path, host, _ in heard.requests) == [
        ("/irc.tif", f"localhost:{heard.port}"),
        ("/rgb.tif", f"localhost:{heard.port}"),
    ]


def test_test_servers_never_call_outside_loopback(live: str) -> None:
    response = _execute(live, {"inputs": {"image": {"href": "http://1.1.1.1/a.tif"}}})
    assert response.status_code == 400 and "loopback addresses only" in response.json()["description"]


def _example_urls(node: object, inside: bool = False) -> Iterator[str]:
    """Every http(s) URL in a value under an ``example``/``examples`` key of an OpenAPI document."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _example_urls(value, inside or key in ("example", "examples", "x-example"))
    elif isinstance(node, list):
        for value in node:
            yield from _example_urls(value, inside)
    elif isinstance(node, str) and inside:
        yield from re.findall(r"https?://[^\s\"'<>]+", node)


def test_openapi_examples_name_only_loopback_urls(live: str) -> None:
    document = requests.get(f"{live}/openapi", params={"f": "json"}, timeout=60).json()
    urls = list(_example_urls(document))
    assert any("/wms" in url for url in urls), "the segmentation example names the configured WMS"
    outside = [url for url in urls if not _loopback(urlsplit(url).hostname or "")]
    assert not outside, json.dumps(outside)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
