"""Nothing heavy at start-up: a web worker that lists the processes and collections has not loaded torch (about a
gigabyte and seconds of import), and neither has ``ocsge config``; torch comes with the first segmentation.

The web check reads the worker's memory map (``/proc/<pid>/maps``), which shows torch's shared library whoever
imported it, rather than asking the server; the same check after a segmentation proves that it would see torch.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import requests

from deploy.services import web_server
from tests.conftest import BIN, SHARED

#: Listing and describing what the server offers: none of this may import the segmentation engine.
LISTINGS = ["/", "/conformance", "/collections", "/processes", "/processes/segmentation", "/openapi"]
#: The real Montpellier patch the segmentation tests use, by path under the data directory.
SEGMENTATION_INPUTS = {
    "image": {"path": "montpellier-ortho-lidar/ortho/test_data_rgb.tif"},
    "irc": {"path": "montpellier-ortho-lidar/ortho/test_data_irc.tif"},
}


def server_processes(url: str) -> dict[int, int]:
    """pid → parent pid of every process started for the server at ``url`` (the only one with this OCSGE_URL)."""
    marker = f"OCSGE_URL={url}".encode()
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if marker in (entry / "environ").read_bytes().split(b"\0"):
                found[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError):  # a process that ended meanwhile
            continue
    return found


def the_worker(url: str) -> int:
    """The pid of the server's one gunicorn worker (a child of its arbiter)."""
    processes = server_processes(url)
    workers = [pid for pid, parent in processes.items() if parent in processes]
    assert len(workers) == 1, f"expected the arbiter and one worker, found {processes}"
    return workers[0]


def loaded_torch(pid: int) -> bool:
    """Whether torch's C++ library is mapped into ``pid``: what importing torch does, by any module."""
    return "libtorch" in Path(f"/proc/{pid}/maps").read_text()


def rss_mib(pid: int) -> float:
    line = next(line for line in Path(f"/proc/{pid}/status").read_text().splitlines() if line.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


def test_listing_loads_no_torch_until_a_segmentation_runs(store_url: str, tmp_path: Path) -> None:
    start = time.monotonic()
    with web_server(store_url, tmp_path, BIN, workers=1, OCSGE_DATA_DIR=str(SHARED)) as url:
        worker = the_worker(url)
        for path in LISTINGS:
            response = requests.get(f"{url}{path}", params={"f": "json"}, timeout=120)
            assert response.status_code == 200, (path, response.text[:300])
        listed = requests.get(f"{url}/processes?f=json", timeout=60).json()["processes"]
        assert "segmentation" in {process["id"] for process in listed}
        print(f"worker answering {time.monotonic() - start:.1f} s after start, RSS {rss_mib(worker):.0f} MiB")
        assert not loaded_torch(worker), "listing the processes and collections loaded torch"

        body = {"inputs": SEGMENTATION_INPUTS}
        response = requests.post(f"{url}/processes/segmentation/execution", json=body, timeout=300)
        assert response.status_code == 200, response.text[:300]
        assert response.json()["surfaces_m2"], response.json()
        assert the_worker(url) == worker, "the same worker ran the job (in-process executor, one worker)"
        print(f"after a segmentation: RSS {rss_mib(worker):.0f} MiB")
        assert loaded_torch(worker), "a segmentation runs the engine in the worker: the check must see torch"


def test_ocsge_config_imports_no_torch(store_url: str, tmp_path: Path) -> None:
    """The command runs in a fresh interpreter, which then lists the modules it holds."""
    template = Path(__file__).resolve().parents[2] / "pygeoapi-config.yml"
    arguments = ["config", "--store", store_url, "--template", str(template)]
    arguments += ["--out", str(tmp_path / "config.yml"), "--openapi", str(tmp_path / "openapi.yml")]
    script = (
        "import json, sys\n"
        "from ocsge_processes.cli import main\n"
        f"main({arguments!r}, standalone_mode=False)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    modules = set(json.loads(done.stdout.splitlines()[-1]))
    assert "ocsge_processes.server.processes.segmentation" in modules, "the segmentation process was described"
    heavy = sorted(name for name in modules if name.split(".")[0] in ("torch", "segmentation_models_pytorch"))
    assert not heavy, heavy[:10]
    assert "segmentation" in (tmp_path / "openapi.yml").read_text(encoding="utf-8")
