# OCS GE OGC API server. CUDA-capable base so that the same image serves and runs GPU segmentation workers;
# it runs on CPU-only hosts too. Build: docker build -t ocsge-processes .
# Run (embedded store mounted at /data):
#   docker run -p 5000:5000 -v $PWD/data:/data ocsge-processes
# Run on PostGIS: add -e OCSGE_STORE=postgresql://user:pass@host:5432/db
# Scaled out (replicas, Celery workers, PostGIS, Redis): deploy/compose.yaml.

# The /map pages, bundled from web/ with npm at build time (never at run time), and the libraries pygeoapi's own
# pages load, copied from npm into server/static/vendor: with Debian's Node.js and npm (web/package.json engines).
ARG BASE=debian:bookworm-slim
FROM ${BASE} AS web
RUN apt-get update && apt-get install -y --no-install-recommends nodejs npm ca-certificates \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY web ./web
RUN cd web && npm ci --no-audit --no-fund && node build.mjs

FROM nvidia/cuda:12.6.3-cudnn-runtime-ubuntu24.04

ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 \
    OCSGE_STORE=/data/ocsge.gpkg \
    OCSGE_URL=http://localhost:5000 \
    OCSGE_HOST=0.0.0.0 \
    PYGEOAPI_CONFIG=/app/build/pygeoapi-config.yml \
    PYGEOAPI_OPENAPI=/app/build/openapi.yml \
    WORKERS=4

RUN apt-get update \
    && apt-get install -y --no-install-recommends python3.12 python3.12-venv gdal-bin 7zip ca-certificates \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml setup.py README.md pygeoapi-config.yml ./
COPY ocsge_processes ./ocsge_processes
COPY --from=web /src/ocsge_processes/webapp/static ./ocsge_processes/webapp/static
COPY --from=web /src/ocsge_processes/server/static/vendor ./ocsge_processes/server/static/vendor
COPY config ./config
RUN python3.12 -m venv /venv && /venv/bin/pip install --no-cache-dir . && useradd --system ocsge \
    && mkdir -p /app/build /data && chown ocsge /app/build /data
ENV PATH=/venv/bin:$PATH OCSGE_CONFIG_DIR=/app/config

USER ocsge
EXPOSE 5000
# The runtime configuration lists the collections the store holds, so it is written at start-up.
CMD ocsge config --store "$OCSGE_STORE" --out "$PYGEOAPI_CONFIG" --openapi "$PYGEOAPI_OPENAPI" \
    && exec gunicorn -c python:ocsge_processes.server.gunicorn_conf --workers "$WORKERS" --bind 0.0.0.0:5000 \
       ocsge_processes.server.app:APP
