"""BD ORTHO as IGN delivers it: dalles (tiles) of RVB and IRC, found in a folder, a list, a 7z archive, a VRT or a
COG mosaic, paired by footprint and laid on one grid.

IGN names a dalle ``DD-YYYY-XXXX-YYYY-CRS-RES-EXT.jp2`` (``34-2021-0770-6280-LA93-0M20-E080.jp2``: département,
year of the pictures, x and y of the dalle's top-left corner in km, CRS, resolution 0M20 = 0.20 m, a product code),
5 km × 5 km at 0.2 m (25 000 px), RVB and IRC as two products whose folder names say which (``..._RVB-0M20_...``,
``..._IRC-0M20_...``). The footprint a file's georeferencing gives is what pairs the RVB and IRC of a place; the
name, when it follows IGN's pattern, is checked against it and gives the date.

A file is opened only through ``rasters.open_raster`` with the server's drivers and root, as every server-side
image is. Pure library: no HTTP; a request's path is resolved by the caller (``workflows.images.server_path``).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from affine import Affine
from rasterio.crs import CRS

from ..errors import InvalidInputError
from .crs import crs_name, same_crs
from .rasters import SERVER_DRIVERS, check_georeferencing, open_raster

#: File name suffixes of dalles and mosaics.
RASTER_SUFFIXES = (".jp2", ".tif", ".tiff", ".vrt")
#: IGN's dalle name: département, year, x km, y km (top-left corner), CRS token, resolution, product.
DALLE_NAME = re.compile(
    r"^(?P<departement>\d{2,3}|2[AB])-(?P<year>\d{4})-(?P<x>\d{4})-(?P<y>\d{4})-(?P<crs>[A-Z0-9]+)"
    r"-(?P<resolution>\d+M\d+)-(?P<product>[A-Z0-9]+)$",
    re.IGNORECASE,
)
#: A product token in a path part: IRC (infrared false colour) or RVB (natural colour).
_PRODUCT = re.compile(r"(?:^|[^A-Z])(IRC|RVB)(?:[^A-Z]|$)", re.IGNORECASE)
#: A Unix file mode of a symbolic link in 7-Zip's attributes.
_UNIX_LINK = re.compile(r"(?:^|\s)l[r-][w-][-xsStT]")
#: Most files one listing may name (a département is about 250 dalles of 5 km; a 1 km layout 6 000).
MAX_FILES = 20_000
#: 7-Zip's command (Debian package 7zip); ``7z`` where p7zip provides it.
SEVEN_ZIP = ("7zz", "7z")


@dataclass(frozen=True)
class DalleName:
    """What IGN's file name says."""

    departement: str
    year: int
    x_km: int
    y_km: int
    crs: str
    resolution_m: float


@dataclass(frozen=True)
class Dalle:
    """One file of one product, its grid and its footprint (minx, miny, maxx, maxy) in its CRS."""

    path: Path
    product: str
    width: int
    height: int
    transform: Affine
    crs: CRS
    name: DalleName | None

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        left, top = self.transform.c, self.transform.f
        right, bottom = self.transform @ (self.width, self.height)
        return left, min(top, bottom), right, max(top, bottom)


@dataclass(frozen=True)
class Pair:
    """The RVB dalle of a place and, where delivered, its IRC dalle on the same grid."""

    rvb: Dalle
    irc: Dalle | None


def parse_name(path: Path) -> DalleName | None:
    """IGN's name of ``path`` parsed, or None when it does not follow the pattern."""
    match = DALLE_NAME.match(path.stem)
    if not match:
        return None
    metres, _, centimetres = match["resolution"].upper().partition("M")
    return DalleName(
        match["departement"].upper(),
        int(match["year"]),
        int(match["x"]),
        int(match["y"]),
        match["crs"].upper(),
        int(metres) + int(centimetres) / 10 ** len(centimetres),
    )


def product_of(path: Path, root: Path) -> str:
    """``IRC`` or ``RVB`` from the file's name or the folders below ``root`` (the nearest one saying it); RVB when
    none does (a mosaic of one product)."""
    parts = path.relative_to(root).parts if path.is_relative_to(root) else path.parts
    for part in reversed(parts):
        match = _PRODUCT.search(part)
        if match:
            return match[1].upper()
    return "RVB"


def list_files(source: Path, root: Path, workdir: Path) -> list[Path]:
    """The raster files ``source`` delivers: a folder (searched recursively), a ``.txt`` list (one path a line,
    relative to the list's folder), a ``.7z`` archive (extracted into ``workdir``), or one raster (a dalle, a VRT or a
    COG mosaic). Every file must lie under ``root`` (or ``workdir`` for an archive's)."""
    if source.is_dir():
        files = sorted(p for p in source.rglob("*") if p.suffix.lower() in RASTER_SUFFIXES and p.is_file())
    elif source.suffix.lower() == ".txt":
        files = [_listed(line, source, root) for line in source.read_text().splitlines() if line.strip()]
    elif source.suffix.lower() == ".7z":
        return list_files(extract(source, workdir / "archive"), workdir, workdir)
    elif source.suffix.lower() in RASTER_SUFFIXES:
        files = [source]
    else:
        raise InvalidInputError(
            f"{source.name}: not a folder, a .txt list, a .7z archive or a raster ({', '.join(RASTER_SUFFIXES)})"
        )
    if not files:
        raise InvalidInputError(f"{source.name}: no dalle ({', '.join(RASTER_SUFFIXES)}) found")
    if len(files) > MAX_FILES:
        raise InvalidInputError(f"{source.name}: {len(files)} files; at most {MAX_FILES} per run")
    return files


def extract(archive: Path, into: Path) -> Path:
    """The rasters of a 7z archive extracted under ``into``, after checking every member's name: relative, no
    ``..``, no link (an archive could otherwise write or point outside the folder)."""
    command = next((name for name in SEVEN_ZIP if shutil.which(name)), None)
    if command is None:
        raise InvalidInputError("7z archives need 7-Zip (Debian package 7zip) on the server")
    listing = subprocess.run([command, "l", "-slt", "-ba", str(archive)], capture_output=True, text=True, check=False)
    if listing.returncode != 0:
        raise InvalidInputError(f"{archive.name} is not a 7z archive 7-Zip can read")
    for block in listing.stdout.split("\n\n"):
        fields = dict(line.split(" = ", 1) for line in block.splitlines() if " = " in line)
        member = PurePosixPath(fields.get("Path", "").replace("\\", "/"))
        # A link shows as a "Symbolic Link" field or, for Unix attributes, a mode starting with l (lrwxrwxrwx).
        link = bool(fields.get("Symbolic Link")) or _UNIX_LINK.search(fields.get("Attributes", "")) is not None
        if member.is_absolute() or ".." in member.parts or link:
            raise InvalidInputError(f"{archive.name}: member {str(member)!r} is absolute, goes up or is a link")
    into.mkdir(parents=True, exist_ok=True)
    patterns = [f"-ir!*{suffix}" for suffix in RASTER_SUFFIXES]
    done = subprocess.run(
        [command, "x", "-y", "-snl-", f"-o{into}", str(archive), *patterns], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise InvalidInputError(f"{archive.name} could not be extracted (7-Zip exit code {done.returncode})")
    return into


def describe(path: Path, root: Path, product: str) -> Dalle:
    """A dalle's grid, read with the server's drivers under ``root``; its IGN name checked against its corner."""
    with open_raster(path, path.name, SERVER_DRIVERS, root) as dataset:
        check_georeferencing(dataset, path.name)
        if set(dataset.dtypes) != {"uint8"} or dataset.count != 3:
            raise InvalidInputError(f"{path.name}: a BD ORTHO dalle has 3 bands of 8 bits; this one does not")
        dalle = Dalle(path, product, dataset.width, dataset.height, dataset.transform, dataset.crs, parse_name(path))
    name = dalle.name
    if name is not None:
        left, _, _, top = dalle.bounds
        if (round(left / 1000), round(top / 1000)) != (name.x_km, name.y_km):
            raise InvalidInputError(
                f"{path.name}: its name says a corner at ({name.x_km} km, {name.y_km} km), its georeferencing "
                f"({left / 1000:.3f} km, {top / 1000:.3f} km)"
            )
    return dalle


def pair(dalles: Sequence[Dalle]) -> tuple[list[Pair], list[str]]:
    """RVB and IRC dalles paired by footprint, and what is wrong: an IRC without its RVB, or two files of one
    product at one place. Every dalle must be on one grid (else the error says which)."""
    for dalle in dalles[1:]:
        same_grid(dalles[0], dalle)  # first: a dalle off the grid would otherwise read as one without its pair
    rvb = {_key(d): d for d in dalles if d.product == "RVB"}
    irc = {_key(d): d for d in dalles if d.product == "IRC"}
    problems = []
    for product, group in (("RVB", rvb), ("IRC", irc)):
        twice = [d for d in dalles if d.product == product and group[_key(d)] is not d]
        problems += [
            f"{d.path.name} and {group[_key(d)].path.name} are two {product} files of one footprint" for d in twice
        ]
    problems += [f"IRC dalle {d.path.name} has no RVB dalle" for key, d in sorted(irc.items()) if key not in rvb]
    return [Pair(d, irc.get(key)) for key, d in sorted(rvb.items())], problems


def same_grid(reference: Dalle, other: Dalle) -> None:
    """Refuse ``other`` unless it shares ``reference``'s CRS (by definition), pixel size and pixel grid."""
    if not same_crs(reference.crs, other.crs):
        raise InvalidInputError(
            f"{other.path.name} is in CRS {crs_name(other.crs)}, {reference.path.name} in {crs_name(reference.crs)}"
        )
    a, e = reference.transform.a, reference.transform.e
    if abs(other.transform.a - a) > 1e-6 * abs(a) or abs(other.transform.e - e) > 1e-6 * abs(e):
        raise InvalidInputError(
            f"{other.path.name} has {abs(other.transform.a):g} m pixels, {reference.path.name} {abs(a):g} m: "
            "dalles of two grids"
        )
    col, row = ~reference.transform @ (other.transform.c, other.transform.f)
    # A thousandth of a pixel: the corners are whole pixels apart on one grid, up to the decimals printed in WKT.
    if abs(col - round(col)) > 1e-3 or abs(row - round(row)) > 1e-3:
        raise InvalidInputError(
            f"{other.path.name} is not on {reference.path.name}'s pixel grid (offset by {col % 1:.3f}, "
            f"{row % 1:.3f} px): dalles of two grids"
        )


def _key(dalle: Dalle) -> tuple[int, int, int, int]:
    """A footprint to the centimetre: what pairs an RVB and an IRC dalle (their corners print the same)."""
    left, bottom, right, top = dalle.bounds
    return round(left * 100), round(bottom * 100), round(right * 100), round(top * 100)


def _listed(line: str, listing: Path, root: Path) -> Path:
    target = (listing.parent / line.strip()).resolve()
    if not target.is_relative_to(root.resolve()):
        raise InvalidInputError(f"{listing.name}: {line.strip()!r} lies outside the server's data directory")
    if not target.is_file():
        raise InvalidInputError(f"{listing.name}: {line.strip()!r} does not exist")
    return target
