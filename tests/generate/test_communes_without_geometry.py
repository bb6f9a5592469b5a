"""A commune table without geometry is refused with a clear error, not an AttributeError.

pyogrio reads a layer without geometry as a plain pandas DataFrame, which has no ``crs``; typing ``read_communes``
found it (the frame was untyped). A GeoPackage attribute table with a ``code_insee`` field is such a layer.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyogrio
import pytest
from click.testing import CliRunner

from ocsge_processes.errors import InvalidInputError
from ocsge_processes.generate import read_communes
from ocsge_processes.generate.command import generate_command


def _attribute_table(tmp_path: Path) -> Path:
    path = tmp_path / "communes.gpkg"
    table = pd.DataFrame({"code_insee": ["33009", "33063"], "nom": ["Arcachon", "Bordeaux"]})
    pyogrio.write_dataframe(table, path, layer="communes")
    assert pyogrio.read_info(path, layer="communes")["geometry_type"] is None  # really a table without geometry
    return path


def test_read_communes_refuses_a_layer_without_geometry(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="layer 'communes' of .* has no geometry"):
        read_communes(_attribute_table(tmp_path))


def test_generate_command_says_what_is_wrong(tmp_path: Path) -> None:
    path = _attribute_table(tmp_path)
    result = CliRunner().invoke(generate_command, ["--communes", str(path), "--out", str(tmp_path / "out")])
    assert result.exit_code != 0
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "no geometry" in result.output
