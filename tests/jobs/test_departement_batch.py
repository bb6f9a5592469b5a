"""`ocsge artificialisation --broker`: one task per département on the local topology's workers. A worker killed in
the middle of a département leaves the rows as they were, the command says the département was lost, and the next
run computes only what is left and ends with the rows an uninterrupted run gives."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from deploy.topology import Topology
from ocsge_processes.jobs.fanout import progress_scope
from ocsge_processes.layers import ARTIFICIALISATION_COMMUNES
from ocsge_processes.stores import open_store
from ocsge_processes.workflows.batch import SCOPE, pair_key

from .. import services
from ..conftest import BIN, SYBARVAL, ocsge
from ..workflows.test_batch_resume import stored_rows
from .conftest import topology_on

pytestmark = pytest.mark.parametrize("store_url", ["gpkg"], indirect=True)
#: Seconds without a heartbeat after which the command reports a département's worker lost. The heartbeat is a
#: note in the GeoPackage the task also writes its rows to, every STALE_S / 4: a beat waits for SQLite's write lock,
#: and on a loaded 2-core machine (fresh-clone CI beside other work, load average ~7) the resumed run's live worker
#: went 3 s without a beat the command saw and was reported lost. Six seconds leave room for that and keep the kill
#: detected within the test's bound (STALE_S + LOAD_S).
STALE_S = 6.0
#: Margin for a loaded 2-core machine, where the command's poll and the store's reads wait for a core.
LOAD_S = 20.0
PAIR = (2021, 2024)


@pytest.fixture(scope="module")
def topology(store_url: str) -> Iterator[Topology]:
    with topology_on(store_url, replicas=1, stale_after_s=STALE_S) as topology:
        yield topology


@pytest.fixture(scope="module")
def deliveries(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Generated 2021 and 2024 millésimes of SYBARVAL's 17 communes, dense enough (about 70 000 polygons a
    millésime) that the 2021→2024 pair computes for about a second: the window in which the worker is killed,
    from the progress note written when the 2015→2018 pair is skipped (``fanout.Reporter`` writes a move at once)."""
    out = tmp_path_factory.mktemp("sybarval-generated")
    ocsge(
        "generate",
        "--communes",
        str(SYBARVAL),
        "--departement",
        "33",
        "--cell-size",
        "250",
        "--urban-cell-size",
        "40",
        "--no-archive",
        "--out",
        str(out),
    )
    return sorted(p for p in out.iterdir() if p.is_dir())


@pytest.fixture(params=["gpkg", "postgis"])
def batch_store(request: pytest.FixtureRequest, topology: Topology, tmp_path: Path, deliveries: list[Path]) -> str:
    """A store of each kind (the PostGIS one in the topology's cluster) with SYBARVAL and the generated pair."""
    if request.param == "gpkg":
        url = str(tmp_path / "batch.gpkg")
    else:
        url = services.fresh_database(
            topology.postgres_url, f"departement_batch_{uuid.uuid4().hex[:8]}"
        )  # a new one: this process' pool holds the last
    ocsge("ingest", "--store", url, str(SYBARVAL), *map(str, deliveries))
    return url


def fan_out(url: str, topology: Topology) -> subprocess.Popen:
    return subprocess.Popen(
        [
            str(BIN / "ocsge"),
            "artificialisation",
            "--store",
            url,
            "--departement",
            "33",
            "--broker",
            topology.broker,
            "--stale-after",
            str(STALE_S),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def second_pair_started(url: str) -> bool:
    """Whether the running task's note says the first of the two pairs is behind it."""
    note = json.loads(open_store(url).marks(progress_scope(SCOPE)).get("33", "{}"))
    return note.get("state") == "running" and note["done"] >= 0.5


def test_a_worker_killed_mid_departement_leaves_the_rows_and_a_second_run_resumes(
    topology: Topology, batch_store: str, deliveries: list[Path]
) -> None:
    for index, proc in enumerate(topology.workers):
        if proc is None or proc.poll() is not None:
            topology.start_worker(index)
    store = open_store(batch_store)
    first = fan_out(batch_store, topology)
    output = first.communicate(timeout=300)[0]
    assert first.returncode == 0, output
    assert "33: done: 2 of 2 pairs computed" in output
    uninterrupted = stored_rows(batch_store)
    assert len(uninterrupted) == 2 * 17

    # The same 2024 delivery again: new rows, so the pair is computed again, to the same figures.
    ocsge("ingest", "--store", batch_store, str(next(p for p in deliveries if "2024-01-01" in p.name)))
    noted = store.marks(SCOPE)[pair_key("33", PAIR)]
    slice_values = {"departement": "33", "millesime_avant": PAIR[0], "millesime_apres": PAIR[1]}
    written = store.slice_version(ARTIFICIALISATION_COMMUNES, 2154, slice_values)

    killed = fan_out(batch_store, topology)
    # The 2015→2018 pair is skipped (half done, noted at once); the 2021→2024 one then computes for about a second.
    services.wait_until(lambda: second_pair_started(batch_store), 120)
    for index in range(len(topology.workers)):
        topology.kill_worker(index)
    output = killed.communicate(timeout=STALE_S + LOAD_S)[0]
    assert killed.returncode != 0 and "33: failed: no heartbeat" in output and "worker lost" in output, output
    assert store.marks(SCOPE)[pair_key("33", PAIR)] == noted, "killed before the pair ended: still the old note"
    assert store.slice_version(ARTIFICIALISATION_COMMUNES, 2154, slice_values) == written, "rows left as they were"

    for index in range(len(topology.workers)):
        topology.start_worker(index)
    resumed = fan_out(batch_store, topology)
    output = resumed.communicate(timeout=300)[0]
    assert resumed.returncode == 0, output
    assert "33: done: 1 of 2 pairs computed (2021→2024)" in output
    assert store.slice_version(ARTIFICIALISATION_COMMUNES, 2154, slice_values) != written
    stored = stored_rows(batch_store)
    assert stored.equals(uninterrupted), "the resumed run gives the rows of the uninterrupted one"

    again = fan_out(batch_store, topology)
    output = again.communicate(timeout=300)[0]
    assert again.returncode == 0 and "33: done: 0 of 2 pairs computed" in output, output
