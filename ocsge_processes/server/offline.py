"""pygeoapi's own HTML pages without the Internet: CDN links rewritten to files we serve, our templates first.

pygeoapi 0.24's templates load Bootstrap, Leaflet and its plugins and Swagger UI from unpkg, jsdelivr and cdnjs,
and its maps default to an OpenStreetMap basemap: a server on a closed network would serve unstyled pages with
broken maps, and an open one would tell those CDNs who reads it. ``web/build.mjs`` copies the same libraries from
npm (exact pins in web/package.json) into ``static/vendor``; ``CDN`` below is the one table from the URL a template
names to the file that replaces it, and an after-request hook rewrites every HTML page pygeoapi answers through
it. Our own templates (``templates/``) come first in pygeoapi's template search path, where we need other markup
(the home page's links to /map, Swagger UI told not to call its online validator).
"""

from __future__ import annotations

import re
from pathlib import Path

from flask import Blueprint, Flask, Response, send_from_directory
from werkzeug.datastructures import Headers

HERE = Path(__file__).resolve().parent
VENDOR = HERE / "static" / "vendor"
TEMPLATES = HERE / "templates"
#: How long a browser keeps a vendored file: a day, then it revalidates with the ETag (the files keep their names
#: across upgrades of the pinned versions, so a longer life would serve a stale library after an upgrade).
VENDOR_MAX_AGE_S = 86_400

#: URL a pygeoapi template loads → the file under /vendor that replaces it (None: the tag is dropped, with why).
CDN: dict[str, str | None] = {
    "https://unpkg.com/bootstrap@5.1.3/dist/css/bootstrap.min.css": "bootstrap/dist/css/bootstrap.min.css",
    "https://unpkg.com/leaflet@1.3.1/dist/leaflet.css": "leaflet/dist/leaflet.css",
    "https://unpkg.com/leaflet@1.3.1/dist/leaflet.js": "leaflet/dist/leaflet.js",
    "https://cdnjs.cloudflare.com/ajax/libs/leaflet/1.3.1/leaflet.js": "leaflet/dist/leaflet.js",
    "https://unpkg.com/leaflet.markercluster/dist/MarkerCluster.css": "leaflet.markercluster/dist/MarkerCluster.css",
    "https://unpkg.com/leaflet.markercluster/dist/MarkerCluster.Default.css": (
        "leaflet.markercluster/dist/MarkerCluster.Default.css"
    ),
    "https://unpkg.com/leaflet.markercluster/dist/leaflet.markercluster-src.js": (
        "leaflet.markercluster/dist/leaflet.markercluster-src.js"
    ),
    "https://unpkg.com/leaflet-draw@1.0.4/dist/leaflet.draw.css": "leaflet-draw/dist/leaflet.draw.css",
    "https://unpkg.com/leaflet-draw@1.0.4/dist/leaflet.draw.js": "leaflet-draw/dist/leaflet.draw.js",
    "https://unpkg.com/leaflet.vectorgrid@latest/dist/Leaflet.VectorGrid.bundled.js": (
        "leaflet.vectorgrid/dist/Leaflet.VectorGrid.bundled.js"
    ),
    "https://unpkg.com/swagger-ui-dist/swagger-ui.css": "swagger-ui-dist/swagger-ui.css",
    "https://unpkg.com/swagger-ui-dist/swagger-ui-bundle.js": "swagger-ui-dist/swagger-ui-bundle.js",
    "https://unpkg.com/swagger-ui-dist/swagger-ui-standalone-preset.js": (
        "swagger-ui-dist/swagger-ui-standalone-preset.js"
    ),
    "https://unpkg.com/swagger-ui-dist/favicon-32x32.png": "swagger-ui-dist/favicon-32x32.png",
    "https://unpkg.com/swagger-ui-dist/favicon-16x16.png": "swagger-ui-dist/favicon-16x16.png",
    # Internet Explorer 8 and older only, inside a conditional comment no browser of today reads.
    "https://cdnjs.cloudflare.com/ajax/libs/html5shiv/3.7.3/html5shiv.js": None,
    # Only for collections with an OGC API – Maps link, which ours never have; and it is not published on npm.
    "https://unpkg.com/leaflet-imageoverlay-ogcapi@0.1.0/Leaflet.ImageOverlay.OGCAPI.js": None,
    # ReDoc's page (openapi/redoc.html) is replaced by our own, which loads nothing (see that template).
    "https://fonts.googleapis.com/css?family=Montserrat:300,400,700|Roboto:300,400,700": None,
    "https://cdn.jsdelivr.net/npm/redoc@latest/bundles/redoc.standalone.js": None,
}

#: The default basemap of the Leaflet maps: one neutral tile of ours, so that no map asks a tile server outside.
BASEMAP_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="256" height="256">'
    '<rect width="256" height="256" fill="#eceee8"/></svg>'
)


def _dropped_tag(url: str) -> re.Pattern[str]:
    """The <script> or <link> element that loads ``url``, with its closing tag."""
    quoted = re.escape(url)
    return re.compile(rf"<(?:script|link)\b[^>]*[\"']{quoted}[\"'][^>]*>(?:\s*</script>)?")


_DROPPED = [_dropped_tag(url) for url, path in CDN.items() if path is None]


def rewrite(html: str, base_url: str) -> str:
    """``html`` with every CDN URL of the table pointing at our copy under ``base_url``/vendor, and the tags
    that are useless offline removed."""
    for pattern in _DROPPED:
        html = pattern.sub("", html)
    for url, path in CDN.items():
        if path is not None:
            html = html.replace(url, f"{base_url}/vendor/{path}")
    return html


def use_our_templates(config: dict[str, dict[str, object]], tpl_config: dict[str, dict[str, object]]) -> None:
    """Put our templates first in pygeoapi's search path and fill in the default basemap.

    ``config`` is pygeoapi's configuration, ``tpl_config`` the copy its API object renders templates with (its
    server URL is the one links use). An empty ``server.map.url`` (no ``OCSGE_BASEMAP``) becomes our neutral tile.
    """
    config["server"]["templates"] = {"path": str(TEMPLATES)}
    tpl_config["server"]["templates"] = {"path": str(TEMPLATES)}
    base_url = str(tpl_config["server"]["url"]).rstrip("/")
    for conf in (config, tpl_config):
        basemap = conf["server"].get("map")
        if isinstance(basemap, dict) and not basemap.get("url"):
            basemap["url"] = f"{base_url}/basemap.svg"


def install(app: Flask, base_url: str) -> None:
    """Serve /vendor and /basemap.svg on ``app`` and rewrite its HTML answers (links under ``base_url``)."""
    base_url = base_url.rstrip("/")
    blueprint = Blueprint("offline", __name__)

    @blueprint.route("/vendor/<path:name>")
    def vendor(name: str) -> Response:
        return send_from_directory(VENDOR, name, max_age=VENDOR_MAX_AGE_S)  # safe join: 404 outside VENDOR

    @blueprint.route("/basemap.svg")
    def basemap() -> Response:
        response = Response(BASEMAP_SVG, mimetype="image/svg+xml")
        response.cache_control.public = True
        response.cache_control.max_age = VENDOR_MAX_AGE_S
        return response

    @app.after_request
    def offline_html(response: Response) -> Response:
        response.headers = Headers(response.headers)  # pygeoapi puts a plain dict there, blind to mimetype
        if response.mimetype == "text/html" and not response.direct_passthrough:
            response.set_data(rewrite(response.get_data(as_text=True), base_url))
        return response

    app.register_blueprint(blueprint)
