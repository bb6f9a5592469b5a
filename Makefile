# Two commands do everything on a fresh machine:
#   make serve  – virtualenv, demo data into the embedded store, OpenAPI generated and validated, gunicorn on :5000
#   make test   – system packages the tests need, virtualenv, the guard rails (make check), the whole test suite
# and, for a fast local loop, `make check` alone and `make test-fast` (the suite without the tests marked slow).
PYTHON ?= python3.12
VENV := .venv
BIN := $(VENV)/bin
SHARED ?= ../shared/data
SYBARVAL := $(SHARED)/sybarval-ocsge-change-2015-2018/sybarval_ocsge_change_2015_2018.gpkg
STORE ?= data/ocsge.gpkg
HOST ?= 127.0.0.1
PORT ?= 5000
WORKERS ?= 2
# The base URL written in every link (next pages, tiles, styles, HTML navigation): where gunicorn listens, except that
# a wildcard bind (HOST=0.0.0.0 or [::]) is no address a browser can open, so links use the loopback then. A server
# reached under another name (a proxy, another machine) sets it: `make serve OCSGE_URL=https://ocsge.example.org`.
LINK_HOST = $(if $(filter 0.0.0.0,$(HOST)),127.0.0.1,$(if $(filter [::] ::,$(HOST)),[::1],$(HOST)))
OCSGE_URL ?= http://$(LINK_HOST):$(PORT)
APT_PACKAGES := postgresql-15-postgis-3 redis-server gdal-bin 7zip cgi-mapserver chromium wrk qgis python3-qgis \
	debootstrap buildah docker-compose
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

export HF_HUB_OFFLINE := 1
export PYGEOAPI_CONFIG := $(CURDIR)/build/pygeoapi-config.yml
export PYGEOAPI_OPENAPI := $(CURDIR)/build/openapi.yml
# `ocsge config` writes the URL into the runtime config, and the server process sees the same one.
config serve: export OCSGE_URL := $(OCSGE_URL)

.PHONY: serve test test-fast check venv system-deps demo-data demo-segmentation config clean web

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

# Debian's nodejs and npm (web/package.json engines) only where no node and npm are on PATH: a nodesource nodejs
# already bundles npm, and Debian's npm package would conflict with it.
system-deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	command -v node >/dev/null && command -v npm >/dev/null || missing="$$missing nodejs npm"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; fi

# Demo data: the real SYBARVAL change polygons and communes, plus a generated OCS GE (marked generated) for the
# same 17 communes, in IGN's delivery layout, ingested like a real delivery.
data/demo/.done: $(VENV)/.installed
	rm -rf data/demo && mkdir -p data/demo
	$(BIN)/ocsge generate --communes $(SYBARVAL) --departement 33 --cell-size 150 --out data/demo
	touch $@

$(STORE): data/demo/.done
	$(BIN)/ocsge ingest --store $(STORE) $(SYBARVAL) data/demo/*.7z
	$(BIN)/ocsge artificialisation --store $(STORE) --departement 33
	$(MAKE) --no-print-directory web  # installs @etalab/decoupage-administratif: EPCI names, régions (docs/territories.md)
	$(BIN)/ocsge ingest-territoires --store $(STORE)
	$(MAKE) --no-print-directory demo-segmentation
	$(BIN)/ocsge tiles build --store $(STORE)

# One segmentation run over the real Montpellier patch (default model, CPU), published in ocsge-segmentation with
# its class COG in the server's result store; the Hérault communes make the territory known.
MONTPELLIER := $(SHARED)/montpellier-ortho-lidar/ortho
HERAULT := $(SHARED)/communes-admin-express-2018/34-herault/communes-34-herault.geojson
demo-segmentation: $(VENV)/.installed
	$(BIN)/ocsge ingest --store $(STORE) $(HERAULT)
	mkdir -p data/demo/segmentation
	$(BIN)/ocsge segment $(MONTPELLIER)/test_data_rgb.tif --irc $(MONTPELLIER)/test_data_irc.tif --device cpu \
		--out data/demo/segmentation/classes.tif
	$(BIN)/ocsge publish-segmentation --store $(STORE) --results $(or $(OCSGE_JOBS),build/jobs.sqlite) \
		--run demo-montpellier --departement 34 data/demo/segmentation/classes.tif

demo-data: $(STORE)

# The /map web pages: npm ci + esbuild bundle into ocsge_processes/webapp/static, and the libraries of pygeoapi's
# own pages into ocsge_processes/server/static/vendor (both gitignored), rebuilt only when web/ changed. The wheel
# build runs the same script (setup.py).
WEB_STAMP := ocsge_processes/webapp/static/.built
web: $(WEB_STAMP)

$(WEB_STAMP): web/package.json web/package-lock.json web/build.mjs $(shell find web/src -type f 2>/dev/null)
	cd web && npm ci --no-audit --no-fund --silent && node build.mjs
	touch $@

config: $(VENV)/.installed
	$(BIN)/ocsge config --store $(STORE) --out $(PYGEOAPI_CONFIG) --openapi $(PYGEOAPI_OPENAPI)
	$(BIN)/pygeoapi openapi validate $(PYGEOAPI_OPENAPI)

serve: $(STORE) web
	$(MAKE) --no-print-directory config STORE=$(STORE)
	$(BIN)/gunicorn -c python:ocsge_processes.server.gunicorn_conf --workers $(WORKERS) --bind $(HOST):$(PORT) \
		ocsge_processes.server.app:APP

# The guard rails: lint and format (rules in pyproject [tool.ruff]), types (mypy --strict, [tool.mypy]) and the
# architecture (import contracts, [tool.importlinter]). `make test` (so CI) fails when one of them fails.
check: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

test: system-deps $(VENV)/.installed web check
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Local runs while working: every test not marked slow (no live servers, databases or long runs); CI runs all.
test-fast: system-deps $(VENV)/.installed web
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

clean:
	rm -rf build data/demo $(STORE)
