"""Grouped territories (EPCI, région, département, SCoT) read from the sources that publish them, for
``ocsge ingest-territoires``.

* The official geography as the npm package ``@etalab/decoupage-administratif`` ships it (its ``data`` folder:
  ``epci.json``, ``regions.json``, ``departements.json``, ``communes.json``; INSEE's COG and DGCL's list of EPCI
  à fiscalité propre, Licence Ouverte): EPCI SIREN, name and member communes, régions and their départements.
* A table of ``<kind>_code,<kind>_nom,commune_code`` rows (CSV, UTF-8) for SCoT perimeters, which no package
  reachable here publishes (DGALN's Sudocuh list is a spreadsheet on data.gouv.fr), or for EPCI of another year.

Everything is read and checked before the store is written, so a bad file leaves the store as it was.
"""

from __future__ import annotations

import csv
import json
import re
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import DeliveryError
from ..stores import FeatureStore
from ..stores.territory_table import TerritoryRecord, TerritoryTable, write_table

#: The files of the package's data folder that this ingest reads.
PACKAGE_FILES = ("epci.json", "regions.json", "departements.json", "communes.json")
#: The kinds a CSV table may give: those made of communes.
TABLE_KINDS = ("scot", "epci")
_COMMUNE = re.compile(r"^[0-9][0-9AB][0-9]{3}$")
_SIREN = re.compile(r"^[0-9]{9}$")


def read_territories(path: Path) -> list[TerritoryTable]:
    """The territory tables of ``path``: the data folder of ``@etalab/decoupage-administratif`` (or the package's
    folder holding it), or a CSV table."""
    if path.is_dir():
        folder = path / "data" if (path / "data" / "epci.json").is_file() else path
        missing = [name for name in PACKAGE_FILES if not (folder / name).is_file()]
        if missing:
            raise DeliveryError(
                f"{path}: not the data folder of @etalab/decoupage-administratif (missing {', '.join(missing)})"
            )
        return _official(folder)
    if path.suffix.lower() == ".csv":
        return [_table(path)]
    raise DeliveryError(f"{path}: expected the data folder of @etalab/decoupage-administratif or a CSV table")


def ingest_territories(store: FeatureStore, paths: list[Path]) -> list[TerritoryTable]:
    """Read every path, then write each kind they give (replacing what the store held for it)."""
    tables = [table for path in paths for table in read_territories(path)]
    kinds = [table.kind for table in tables]
    repeated = sorted({kind for kind in kinds if kinds.count(kind) > 1})
    if repeated:
        raise DeliveryError(f"several sources give the {', '.join(repeated)} territories; give one per kind")
    for table in tables:
        write_table(store, table)
    return tables


def _official(folder: Path) -> list[TerritoryTable]:
    version = _package_version(folder)
    source = f"@etalab/decoupage-administratif {version} (INSEE COG, DGCL; Licence Ouverte)"
    departements = _load(folder / "departements.json")
    regions = _load(folder / "regions.json")
    former = _former_codes(_load(folder / "communes.json"))
    by_region: dict[str, list[str]] = defaultdict(list)
    for row in departements:
        by_region[_text(row, "region", folder)].append(_text(row, "code", folder))
    epci = []
    for row in _load(folder / "epci.json"):
        siren = _text(row, "code", folder)
        if not _SIREN.match(siren):
            raise DeliveryError(f"{folder / 'epci.json'}: EPCI code {siren!r} is not a SIREN")
        members = [_text(member, "code", folder) for member in row.get("membres", [])]
        codes = sorted({code for member in members for code in (member, *former.get(member, ()))})
        epci.append(TerritoryRecord("epci", siren, _text(row, "nom", folder), tuple(codes)))
    return [
        TerritoryTable("epci", source, tuple(epci)),
        TerritoryTable(
            "region",
            source,
            tuple(
                TerritoryRecord("region", code, _text(row, "nom", folder), (), tuple(sorted(by_region[code])))
                for row in regions
                for code in [_text(row, "code", folder)]
            ),
        ),
        TerritoryTable(
            "departement",
            source,
            tuple(
                TerritoryRecord("departement", code, _text(row, "nom", folder), (), (code,))
                for row in departements
                for code in [_text(row, "code", folder)]
            ),
        ),
    ]


def _former_codes(communes: list[dict[str, Any]]) -> dict[str, tuple[str, ...]]:
    """The codes each current commune stood for before mergers (its delegated and associated communes, its
    ``anciensCodes``): contours of an older COG then still find their EPCI."""
    former: dict[str, set[str]] = defaultdict(set)
    for row in communes:
        code = str(row.get("code", ""))
        if row.get("type") == "commune-actuelle":
            former[code].update(str(old) for old in row.get("anciensCodes", ()))
        elif row.get("type") in ("commune-deleguee", "commune-associee") and row.get("chefLieu"):
            former[str(row["chefLieu"])].add(code)
    return {code: tuple(sorted(olds - {code})) for code, olds in former.items()}


def _table(path: Path) -> TerritoryTable:
    """A ``<kind>_code,<kind>_nom,commune_code`` table: one row per member commune."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        header = [name.strip().lower() for name in reader.fieldnames or ()]
        kind = next((k for k in TABLE_KINDS if {f"{k}_code", f"{k}_nom", "commune_code"} <= set(header)), None)
        if kind is None:
            raise DeliveryError(
                f"{path}: expected the columns scot_code,scot_nom,commune_code (or epci_code,epci_nom,commune_code);"
                f" found {','.join(header) or 'no header'}"
            )
        names: dict[str, str] = {}
        members: dict[str, set[str]] = defaultdict(set)
        owner: dict[str, str] = {}
        for line, row in _rows(reader):
            code, nom, commune = row[f"{kind}_code"], row[f"{kind}_nom"], row["commune_code"].upper()
            if not code or not nom:
                raise DeliveryError(f"{path}, line {line}: {kind}_code and {kind}_nom must not be empty")
            if not _COMMUNE.match(commune):
                raise DeliveryError(f"{path}, line {line}: {commune!r} is not a commune INSEE code (e.g. 33063)")
            if names.setdefault(code, nom) != nom:
                raise DeliveryError(f"{path}, line {line}: {kind} {code} is named both {names[code]!r} and {nom!r}")
            if owner.setdefault(commune, code) != code:
                raise DeliveryError(
                    f"{path}, line {line}: commune {commune} is in both {kind} {owner[commune]} and {code}; a "
                    f"commune belongs to one {kind} at most"
                )
            members[code].add(commune)
    if not names:
        raise DeliveryError(f"{path}: no row")
    records = tuple(TerritoryRecord(kind, code, names[code], tuple(sorted(members[code]))) for code in sorted(names))
    return TerritoryTable(kind, f"table {path.name}", records)


def _rows(reader: csv.DictReader[str]) -> Iterator[tuple[int, dict[str, str]]]:
    """Each row as lower-case column -> stripped value (a short row's missing values empty), with its line."""
    for row in reader:
        values = {name.strip().lower(): row.get(name) for name in reader.fieldnames or ()}
        yield reader.line_num, {name: value.strip() if isinstance(value, str) else "" for name, value in values.items()}


def _load(path: Path) -> list[dict[str, Any]]:
    """A JSON list of objects. Any: the package's rows are free-form JSON (strings, numbers, lists)."""
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise DeliveryError(f"{path}: not readable JSON: {err}") from None
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        raise DeliveryError(f"{path}: expected a JSON list of objects")
    return rows


def _text(row: dict[str, Any], key: str, folder: Path) -> str:
    value = row.get(key)
    if not isinstance(value, str) or not value:
        raise DeliveryError(f"{folder}: a row without {key!r}: {json.dumps(row, ensure_ascii=False)[:200]}")
    return value


def _package_version(folder: Path) -> str:
    """The package's version (its package.json beside the data folder), or "unknown version"."""
    try:
        return str(json.loads((folder.parent / "package.json").read_text(encoding="utf-8"))["version"])
    except (OSError, ValueError, KeyError, TypeError):
        return "unknown version"
