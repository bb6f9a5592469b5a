# syntax=docker/dockerfile:1
# OCS GE OGC API server: one image for the web server, the Celery workers and the GPU segmentation worker.
# It needs no CUDA base: torch's PyPI wheels carry their own CUDA runtime (README "Container image").
#
#   docker build -t ocsge-processes .
#   docker run -p 5000:5000 -v $PWD/data:/data ocsge-processes                 # embedded store /data/ocsge.gpkg
#   docker run -p 5000:5000 -e OCSGE_STORE=postgresql://user:pass@host:5432/db ocsge-processes
#   docker run --gpus all ...                                                   # GPU host: NVIDIA container toolkit
# Scaled out (replicas, Celery workers, PostGIS, Redis): deploy/compose.yaml. Built and served by tests/deploy.
#
# Layers: the Python dependencies (about 4 GB of torch and its CUDA libraries) are installed from pyproject.toml
# alone, before any code is copied, so a change of code rebuilds only the last, small layers.

# The public image a user pulls; the tests pass a base debootstrapped from the Debian archive (same suite).
# Debian trixie: Python 3.13, and every dependency has a 3.13 wheel on PyPI.
ARG BASE=debian:trixie-slim

# The /map pages, bundled from web/ with npm at build time (never at run time), and the libraries pygeoapi's own
# pages load, copied from npm into server/static/vendor: with Debian's Node.js and npm (web/package.json engines).
FROM ${BASE} AS web
# Behind a TLS-inspecting proxy, the downloads (npm, pip) trust its CA: mount the bundle and name it in these build
# arguments (README "Container image"); the image keeps no certificate (only the path shows in its history).
ARG NODE_EXTRA_CA_CERTS
RUN apt-get update && apt-get install -y --no-install-recommends nodejs npm ca-certificates \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY web/package.json web/package-lock.json ./web/
RUN cd web && npm ci --no-audit --no-fund
COPY web ./web
RUN cd web && node build.mjs

# Debian's Python and nothing else: the wheels bring their own GDAL, GEOS, PROJ (pyogrio, rasterio, shapely, pyproj).
FROM ${BASE} AS python
ENV DEBIAN_FRONTEND=noninteractive PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
    && rm -rf /var/lib/apt/lists/*

# The package's wheel with the web bundle inside (setup.py skips npm: web/ is not in this stage).
FROM python AS wheel
ARG PIP_CERT
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY ocsge_processes ./ocsge_processes
COPY --from=web /src/ocsge_processes/webapp/static ./ocsge_processes/webapp/static
COPY --from=web /src/ocsge_processes/server/static/vendor ./ocsge_processes/server/static/vendor
RUN --mount=type=cache,id=ocsge-wheels,target=/wheelhouse \
    python3 -m venv /build \
    && /build/bin/pip download --quiet --dest /wheelhouse "setuptools>=69" wheel \
    && /build/bin/pip install --quiet --no-index --find-links /wheelhouse "setuptools>=69" wheel \
    && /build/bin/pip wheel --no-deps --no-build-isolation --wheel-dir /wheels .

FROM python AS runtime
ARG PIP_CERT
# The dependencies, read from pyproject.toml: this layer changes only when they do.
COPY pyproject.toml /tmp/pyproject.toml
# The wheels are kept in a cache mount (a wheelhouse: pip's own HTTP cache kept nothing on the CI machines, behind
# their TLS-inspecting proxy), so a rebuild of this layer downloads only what changed.
RUN --mount=type=cache,id=ocsge-wheels,target=/wheelhouse \
    python3 -m venv /venv \
    && python3 -c "import tomllib; print('\n'.join(tomllib.load(open('/tmp/pyproject.toml', 'rb'))['project']['dependencies']))" \
       > /tmp/requirements.txt \
    && /venv/bin/pip download --quiet --dest /wheelhouse --requirement /tmp/requirements.txt \
    && /venv/bin/pip install --no-cache-dir --no-index --find-links /wheelhouse --requirement /tmp/requirements.txt \
    && rm /tmp/pyproject.toml /tmp/requirements.txt

ENV PATH=/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 \
    OCSGE_STORE=/data/ocsge.gpkg \
    OCSGE_HOST=0.0.0.0 \
    OCSGE_PORT=5000 \
    OCSGE_URL=http://localhost:5000 \
    OCSGE_CONFIG_DIR=/app/config \
    OCSGE_DATA_DIR=/data \
    PYGEOAPI_CONFIG=/app/build/pygeoapi-config.yml \
    PYGEOAPI_OPENAPI=/app/build/openapi.yml \
    WORKERS=4

WORKDIR /app
RUN useradd --system --home-dir /app ocsge && mkdir -p /app/build /data && chown ocsge /app/build /data
COPY pygeoapi-config.yml ./
COPY config ./config
COPY --from=wheel /wheels /tmp/wheels
RUN /venv/bin/pip install --no-deps --no-cache-dir /tmp/wheels/*.whl && rm -rf /tmp/wheels

USER ocsge
EXPOSE 5000
# The store is mounted at /data (or OCSGE_STORE names a PostGIS database); the image holds no data. No VOLUME:
# an anonymous volume would hide a bind mount under buildah and could not be undone by an image built on this one.
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/conformance?f=json' % os.environ['OCSGE_PORT'], timeout=8)"
# The runtime configuration lists the collections the store holds, so it is written at start-up.
CMD ocsge config --store "$OCSGE_STORE" --out "$PYGEOAPI_CONFIG" --openapi "$PYGEOAPI_OPENAPI" \
    && exec gunicorn -c python:ocsge_processes.server.gunicorn_conf --workers "$WORKERS" \
       --bind "$OCSGE_HOST:$OCSGE_PORT" ocsge_processes.server.app:APP
