"""The container image built and run on a machine without a container engine: debootstrap makes the Debian base,
buildah builds the Dockerfile and runs a container with chroot isolation (no daemon, no cgroups), sharing the host's
loopback, so the tests reach the server inside as they reach any other.

Everything slow is kept between runs in ``OCSGE_IMAGE_CACHE`` (default /var/cache/ocsge-image, outside the clone): the
debootstrapped base, buildah's cache mounts (the Dockerfile's wheelhouse: 2.8 GB of wheels, torch and its CUDA
libraries mostly) and its temporary files; the image layers stay in buildah's storage, so an unchanged pyproject.toml
reuses the dependency layer.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("OCSGE_IMAGE_CACHE", "/var/cache/ocsge-image"))
#: The Debian suite of the Dockerfile's default BASE (debian:trixie-slim), made here from the Debian archive.
SUITE = "trixie"
MIRROR = "http://deb.debian.org/debian"
BASE = f"localhost/ocsge-base:{SUITE}"
IMAGE = "localhost/ocsge-processes:test"
#: Where the build's downloads find the CA bundle the host trusts (a TLS-inspecting proxy's CA, where there is one).
BUILD_CA = "/run/ocsge-build-ca.crt"
#: chroot isolation: no cgroups or namespaces a rootless, daemonless machine may lack; the default rlimits of the
#: build process are refused there, so explicit ones are given.
ISOLATION = ["--isolation", "chroot"]
ULIMITS = ["--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096"]


def _env() -> dict[str, str]:
    """buildah keeps its cache mounts and large temporary files under TMPDIR: in the cache folder, kept between runs."""
    tmp = CACHE / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    return {**os.environ, "TMPDIR": str(tmp)}


def buildah(*args: str, timeout: float = 600) -> str:
    """Run buildah; its standard output, or an error that carries its standard error."""
    done = subprocess.run(["buildah", *args], capture_output=True, text=True, env=_env(), timeout=timeout)
    if done.returncode:
        raise RuntimeError(f"buildah {' '.join(args[:2])} failed ({done.returncode}): {done.stderr[-3000:]}")
    return done.stdout


def image_exists(name: str) -> bool:
    done = subprocess.run(["buildah", "inspect", "--type", "image", name], capture_output=True, env=_env())
    return done.returncode == 0


def base_image() -> str:
    """The Debian base, debootstrapped once into the cache folder and imported into buildah's storage once."""
    if image_exists(BASE):
        return BASE
    CACHE.mkdir(parents=True, exist_ok=True)
    rootfs = CACHE / f"{SUITE}-rootfs"
    if not (rootfs / "etc" / "debian_version").is_file():
        partial = Path(tempfile.mkdtemp(prefix=f"{SUITE}-", dir=CACHE))
        try:
            done = subprocess.run(
                ["debootstrap", "--variant=minbase", SUITE, str(partial), MIRROR], capture_output=True, text=True
            )
            if done.returncode:
                raise RuntimeError(f"debootstrap {SUITE} failed: {done.stderr[-3000:]}")
            # What debian:*-slim leaves out too: the downloaded packages and the package lists.
            for leftover in [*partial.glob("var/cache/apt/archives/*.deb"), *partial.glob("var/lib/apt/lists/*")]:
                if leftover.is_file():
                    leftover.unlink()
            shutil.rmtree(rootfs, ignore_errors=True)
            partial.rename(rootfs)  # complete or absent: an interrupted debootstrap is never taken for a base
        finally:
            shutil.rmtree(partial, ignore_errors=True)
    tarball = CACHE / f"{SUITE}-rootfs.tar"
    subprocess.run(["tar", "-C", str(rootfs), "--numeric-owner", "-cf", str(tarball), "."], check=True)
    container = buildah("from", "scratch").strip()
    try:
        buildah("add", container, str(tarball), "/")
        buildah("config", "--env", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", container)
        buildah("config", "--cmd", "bash", container)
        buildah("commit", "--format", "docker", container, BASE)
    finally:
        buildah("rm", container)
        tarball.unlink(missing_ok=True)
    return BASE


def host_ca_bundle() -> Path:
    """The CA bundle this machine's own downloads trust."""
    return Path(os.environ.get("SSL_CERT_FILE") or ssl.get_default_verify_paths().openssl_cafile).resolve()


def build(tag: str = IMAGE, log: Path | None = None) -> float:
    """Build the Dockerfile of the checkout FROM the local base; the seconds it took. Layers are cached (--layers),
    as ``docker build`` does, so a rebuild after a code change reuses the dependency layer."""
    ca = host_ca_bundle()
    command = [
        "buildah", "bud", *ISOLATION, *ULIMITS, "--format", "docker", "--layers", "--force-rm",
        "--build-arg", f"BASE={base_image()}",
        "--volume", f"{ca}:{BUILD_CA}:ro", "--build-arg", f"PIP_CERT={BUILD_CA}",
        "--build-arg", f"NODE_EXTRA_CA_CERTS={BUILD_CA}",
        "--tag", tag, str(ROOT),
    ]  # fmt: skip
    log = log or CACHE / "build.log"
    previous = image_id(tag) if image_exists(tag) else None
    start = time.monotonic()
    with log.open("w") as out:
        done = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, env=_env(), timeout=3600)
    if done.returncode:
        raise RuntimeError(f"the image build failed; its log: {log}\n{log.read_text(errors='replace')[-4000:]}")
    seconds = time.monotonic() - start
    if previous and previous != image_id(tag):
        # The image this build replaced, with whatever layers only it used (after a change of dependencies, 6 GB):
        # a machine that builds at every run keeps one image, not one per run.
        subprocess.run(["buildah", "rmi", previous], capture_output=True, env=_env())
    return seconds


def image_id(tag: str) -> str:
    return str(json.loads(buildah("images", "--json", tag))[0]["id"])


def image_size(tag: str = IMAGE) -> int:
    """Bytes of the image's layers, unpacked (what `docker images` shows; buildah prints it in decimal units)."""
    number, unit = json.loads(buildah("images", "--json", tag))[0]["size"].split()
    return round(float(number) * {"B": 1, "kB": 1e3, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12}[unit])


def config(tag: str = IMAGE) -> dict:
    """The image's Docker configuration (Cmd, Env, User, Healthcheck...)."""
    return json.loads(buildah("inspect", "--type", "image", tag))["Docker"]["config"]


@contextmanager
def container(tag: str = IMAGE) -> Iterator[str]:
    """A working container of the image; always removed at the end."""
    name = buildah("from", "--pull-never", tag).strip()
    try:
        yield name
    finally:
        buildah("rm", name)


def run(
    name: str,
    *command: str,
    env: dict[str, str] | None = None,
    volumes: dict[Path, str] | None = None,
    timeout: float = 120,
) -> str:
    """Run a command inside the container, as the image's user; its standard output."""
    return buildah("run", *ISOLATION, *_flags(env or {}, volumes or {}), name, "--", *command, timeout=timeout)


def _flags(env: dict[str, str], volumes: dict[Path, str]) -> list[str]:
    flags = [arg for key, value in env.items() for arg in ("--env", f"{key}={value}")]
    return flags + [arg for host, inside in volumes.items() for arg in ("--volume", f"{host}:{inside}")]


@contextmanager
def started(
    name: str, command: list[str], env: dict[str, str], volumes: dict[Path, str], log: Path
) -> Iterator[subprocess.Popen]:
    """``command`` running in the container in the background (with ``env`` and host folders mounted), stopped at the
    end with its whole process group: chroot isolation keeps the host's process tree, so the group holds every
    process the command started (gunicorn's arbiter and its workers), and none outlives the container."""
    with log.open("w") as out:
        proc = subprocess.Popen(
            ["buildah", "run", *ISOLATION, *_flags(env, volumes), name, "--", *command],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=_env(),
            start_new_session=True,
        )
    try:
        yield proc
    finally:
        # gunicorn stops gracefully on SIGTERM within its 30 s graceful timeout; SIGKILL for whatever is left.
        for sig, grace_s in ((signal.SIGTERM, 40.0), (signal.SIGKILL, 10.0)):
            if _group_gone(proc, sig, grace_s):
                break


def _group_gone(proc: subprocess.Popen, sig: signal.Signals, grace_s: float) -> bool:
    """Send ``sig`` to ``proc``'s process group; whether the group is empty within ``grace_s``."""
    deadline = time.monotonic() + grace_s
    try:
        os.killpg(proc.pid, sig)
        while time.monotonic() < deadline:
            proc.poll()  # reaps buildah itself: a zombie would keep the group alive
            os.killpg(proc.pid, 0)
            time.sleep(0.2)
    except ProcessLookupError:
        return True
    return False
