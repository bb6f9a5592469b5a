"""The territory search of the /map pages: EPCI, SCoT, régions and départements by name, and the communes of one,
read from the store's territory table (``workflows.territory_names``) so the browser holds no copy of it."""

from __future__ import annotations

from flask import Blueprint, Response, abort, jsonify, request

from ..errors import OcsgeError
from ..stores import open_store
from ..workflows.territory_names import find, members, search

#: Longest search text taken: a name is shorter.
MAX_QUERY = 200


def add_routes(blueprint: Blueprint, store_url: str | None) -> None:
    """``/territoires.json?q=`` (the territories whose name holds q) and ``/territoires/<kind>/<code>.json`` (one
    territory and its ingested communes) on ``blueprint``."""

    @blueprint.route("/territoires.json")
    def territoires() -> Response:
        text = request.args.get("q", "")[:MAX_QUERY]
        found = search(open_store(store_url), text) if store_url else []
        return jsonify({"territoires": [{"kind": r.kind, "code": r.code, "nom": r.nom} for r in found]})

    @blueprint.route("/territoires/<kind>/<path:code>.json")
    def territoire(kind: str, code: str) -> Response:
        if store_url is None:
            abort(404, description="this server has no store")
        store = open_store(store_url)
        try:
            record = find(store, kind, code)
            communes = members(store, kind, record.code)
        except OcsgeError as err:
            abort(404, description=str(err))
        return jsonify(
            {
                "kind": kind,
                "code": record.code,
                "nom": record.nom,
                "communes": communes,
                "departements": list(record.departements),
            }
        )
