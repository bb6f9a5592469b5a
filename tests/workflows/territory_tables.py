"""Hand-built territory sources (not the official geography) for the communes of ``territory_data``: a folder laid
out like the data of ``@etalab/decoupage-administratif`` and a SCoT table, written by the tests into tmp_path.

33001 and 33002 form the EPCI 200000001; 33900 is a delegated commune of 33002 (a former code); 40001 forms
200000003; 97401 forms 200000002. Two EPCI share the name "CC du Lac" (ambiguous by name). The SCoT "SCoT du Val"
holds 33001 and 40001, across two départements; régions: 75 (33, 40) and 04 (974).
"""

from __future__ import annotations

import json
from pathlib import Path

REGIONS = [
    {"code": "04", "nom": "La Réunion", "chefLieu": "97411", "zone": "drom"},
    {"code": "75", "nom": "Nouvelle-Aquitaine", "chefLieu": "33063", "zone": "metro"},
]
DEPARTEMENTS = [
    {"code": "33", "region": "75", "nom": "Gironde", "zone": "metro"},
    {"code": "40", "region": "75", "nom": "Landes", "zone": "metro"},
    {"code": "974", "region": "04", "nom": "La Réunion", "zone": "drom"},
]
EPCI = [
    {"code": "200000001", "nom": "CC des Deux Communes", "membres": [{"code": "33001"}, {"code": "33002"}]},
    {"code": "200000002", "nom": "CA Île Réunion Test", "membres": [{"code": "97401"}]},
    {"code": "200000003", "nom": "Communauté de communes des Landes d'Essai", "membres": [{"code": "40001"}]},
    {"code": "200000004", "nom": "CC du Lac", "membres": [{"code": "33003"}]},
    {"code": "200000005", "nom": "CC du lac", "membres": [{"code": "40002"}]},
]
COMMUNES = [
    {"code": "33001", "nom": "Commune 33001", "type": "commune-actuelle", "departement": "33", "region": "75"},
    {"code": "33002", "nom": "Commune 33002", "type": "commune-actuelle", "departement": "33", "region": "75"},
    {"code": "33900", "nom": "Ancienne 33900", "type": "commune-deleguee", "chefLieu": "33002"},
    {"code": "40001", "nom": "Commune 40001", "type": "commune-actuelle", "departement": "40", "region": "75"},
    {"code": "97401", "nom": "Commune 97401", "type": "commune-actuelle", "departement": "974", "region": "04"},
]
SCOT_CSV = "scot_code,scot_nom,commune_code\nSCOT1,SCoT du Val,33001\nSCOT1,SCoT du Val,40001\nSCOT2,SCoT Îlien,97401\n"


def write_package(folder: Path, version: str = "0.0.0-test") -> Path:
    """A folder laid out like the npm package (package.json and data/), returned."""
    (folder / "data").mkdir(parents=True)
    (folder / "package.json").write_text(json.dumps({"name": "@etalab/decoupage-administratif", "version": version}))
    for name, rows in (
        ("regions", REGIONS),
        ("departements", DEPARTEMENTS),
        ("epci", EPCI),
        ("communes", COMMUNES),
    ):
        (folder / "data" / f"{name}.json").write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    return folder


def write_scot(path: Path, text: str = SCOT_CSV) -> Path:
    path.write_text(text, encoding="utf-8")
    return path
