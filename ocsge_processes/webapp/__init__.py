"""The web pages under ``/map``: map, artificialisation dashboard, segmentation and jobs, plus the JSON they read.

The pages are built from ``web/`` by ``make web`` into ``static/``; this blueprint only serves them and the server
facts they need (styles, labels and colours from ``config/``, millésimes held, the WMS of the segmentation page),
so the browser never holds a second copy of the nomenclature.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, abort, jsonify, render_template, request

from .. import styles
from ..errors import OcsgeError
from .settings import page_settings
from .territories import add_routes

STATIC = Path(__file__).resolve().parent / "static"
#: Page name by path under /map; each has a bundle ``static/<name>.js``.
PAGES = {"": "map", "dashboard": "dashboard", "segmentation": "segmentation", "jobs": "jobs"}
#: The Géoplateforme's raster WMS, where the segmentation page fetches ortho by bbox unless OCSGE_ORTHO_WMS says.
DEFAULT_ORTHO_WMS = "https://data.geopf.fr/wms-r/wms"


# Any: pygeoapi's configuration, free-form YAML
def create_blueprint(config: dict[str, Any], store_url: str | None) -> Blueprint:
    """The /map blueprint for a server running ``config`` (pygeoapi's configuration, already loaded) on the store
    ``store_url`` (None: no collections)."""
    blueprint = Blueprint(
        "webapp",
        __name__,
        url_prefix="/map",
        static_folder="static",
        static_url_path="/static",
        template_folder="templates",
    )
    base_url = str(config["server"]["url"]).rstrip("/")

    def page(name: str) -> str | tuple[str, int]:
        if not (STATIC / f"{name}.js").is_file():
            return render_template("missing.html"), 503
        return render_template("page.html", page=name, title=config["metadata"]["identification"]["title"])

    for path, name in PAGES.items():
        blueprint.add_url_rule(f"/{path}", f"page_{name or 'map'}", lambda name=name: page(name))

    @blueprint.route("/settings.json")
    def settings() -> Response:
        wms = os.environ.get("OCSGE_ORTHO_WMS") or DEFAULT_ORTHO_WMS
        return jsonify(page_settings(store_url, wms))

    @blueprint.route("/styles/<name>.json")
    def style(name: str) -> Response:
        """The style ``name``; of one millésime with ``?millesime=2024`` (``millesime_avant`` and ``millesime_apres``
        for the collections of changes), the template that shows them all without."""
        try:
            layer = styles.style_layer(name)
        except OcsgeError:
            abort(404)
        try:
            return jsonify(styles.build_style(name, base_url, millesimes=styles.parse_millesimes(layer, request.args)))
        except OcsgeError as err:
            abort(400, description=str(err))

    add_routes(blueprint, store_url)
    return blueprint
