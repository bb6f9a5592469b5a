"""WSGI middleware that puts the OGC URI in place of any other name of a CRS in ``crs``, ``bbox-crs`` and
``filter-crs``, before the request guard and pygeoapi read them.

pygeoapi compares these parameters with the collection's list of URIs, character for character; clients of the
Géoplateforme send ``IGNF:LAMB93``, others ``EPSG:2154`` (``crsnames``). Only those parameters' values change; the
rest of the query string is passed on byte for byte. A name that is no CRS is left as sent, for the guard to refuse
with the collection's list.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import quote, unquote_plus
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

from ..crsnames import ogc_uri

#: The query parameters whose value is a CRS.
CRS_PARAMETERS = frozenset({"crs", "bbox-crs", "filter-crs"})


class CrsAliases:
    """Rewrites the CRS parameters of every request to OGC URIs."""

    def __init__(self, app: WSGIApplication) -> None:
        self.app = app

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        query = environ.get("QUERY_STRING", "")
        if query:
            environ["QUERY_STRING"] = with_ogc_uris(query)
        return self.app(environ, start_response)


def with_ogc_uris(query: str) -> str:
    """``query`` with the value of each CRS parameter replaced by its OGC URI."""
    parts = query.split("&")
    for index, part in enumerate(parts):
        name, found, value = part.partition("=")
        if found and unquote_plus(name) in CRS_PARAMETERS:
            uri = ogc_uri(unquote_plus(value))
            if uri != unquote_plus(value):
                parts[index] = f"{name}={quote(uri, safe=':/')}"
    return "&".join(parts)
