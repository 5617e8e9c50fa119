# omnihub: `make run` starts the whole hub locally, `make test` runs every check.
SHELL := /bin/bash
export UV_PYTHON_DOWNLOADS := never
export UV_LINK_MODE := copy
# The machine image sets PYTHONDONTWRITEBYTECODE=1, so every process (each service a test hub starts, each test
# worker) compiled every module it imported from source: about two thirds of a service's start-up CPU and of a
# worker's collection. Bytecode is cached in __pycache__ (git-ignored) like anywhere else.
unexport PYTHONDONTWRITEBYTECODE
UV := python3 -m uv
LINT_PATHS := libs cli services tests bench scripts conftest.py
# Tests mostly wait on sockets and subprocesses, so more workers than cores pays (figures for 3 and 4
# workers in docs/architecture.md, "Tests"). PYTEST_WORKERS=0 runs in one process.
PYTEST_WORKERS ?= 4
MYPY_PATHS = libs/common/src libs/erlang/src libs/erlang/tests libs/testkit/src libs/testkit/tests cli/src cli/tests tests bench scripts conftest.py \
	$(wildcard services/*/src) $(wildcard services/*/tests)

WEB := services/inbox/web
WEB_OUT := services/inbox/src/omnihub/inbox/webapp
WEB_SOURCES = $(shell find $(WEB)/src -type f) $(wildcard $(WEB)/*.json $(WEB)/*.ts $(WEB)/index.html)

.PHONY: help bootstrap sync run test lint typecheck pytest browser protos bench images clean node web webcheck api-types

help:
	@echo "make run    start NATS, SecantusDB and every service (demo config, logins printed)"
	@echo "make test   install everything, then ruff, mypy, the desktop's checks and pytest"
	@echo "make web    build the agent desktop (npm ci and vite build, only when its sources changed)"
	@echo "make protos regenerate libs/proto from protos/"
	@echo "make bench  run the benchmarks in bench/"
	@echo "make images build container images (needs a Docker engine)"

bootstrap:
	@python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet --disable-pip-version-check uv

sync: bootstrap
	$(UV) sync --all-packages

run: sync web
	$(UV) run --no-sync omnihub up

browser:
	@test -x /usr/bin/chromium || { \
	  echo "installing Debian chromium and CJK fonts for the browser tests"; \
	  $$(command -v sudo >/dev/null && [ "$$(id -u)" != 0 ] && echo sudo) apt-get update -qq && \
	  $$(command -v sudo >/dev/null && [ "$$(id -u)" != 0 ] && echo sudo) env DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq chromium fonts-noto-cjk >/dev/null; }

lint: sync
	$(UV) run --no-sync ruff check $(LINT_PATHS)

typecheck: sync
	$(UV) run --no-sync mypy $(MYPY_PATHS)

pytest: sync browser web
	$(UV) run --no-sync pytest -n $(PYTEST_WORKERS) --dist loadgroup

test: sync browser web lint typecheck webcheck pytest

# The agent desktop (Vue + TypeScript): npm ci when the lock changed, vite build when a source changed.
node:
	@command -v npm >/dev/null && node -e 'const [a,b]=process.versions.node.split(".").map(Number);process.exit(a>20||(a==20&&b>=19)?0:1)' \
	  || { echo "the agent desktop needs Node.js 20.19 or newer and npm"; exit 1; }

$(WEB)/node_modules/.omnihub-npm-ci: $(WEB)/package.json $(WEB)/package-lock.json | node
	cd $(WEB) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

$(WEB_OUT)/.omnihub-build: $(WEB)/node_modules/.omnihub-npm-ci $(WEB_SOURCES)
	cd $(WEB) && npx vite build --logLevel warn
	@touch $@

web: $(WEB_OUT)/.omnihub-build

# The desktop's API types from the inbox's OpenAPI document (tests fail until this is rerun after a model change).
api-types: sync $(WEB)/node_modules/.omnihub-npm-ci
	$(UV) run --no-sync python -c "import json; from omnihub.inbox.models import openapi; \
	  print(json.dumps(openapi(), indent=2, sort_keys=True))" > $(WEB)/src/api/openapi.json
	cd $(WEB) && npx openapi-typescript src/api/openapi.json -o src/api/schema.d.ts --default-non-nullable=false

webcheck: web
	cd $(WEB) && npm run --silent typecheck && npm run --silent lint && npm run --silent test

protos: sync
	$(UV) run --no-sync python scripts/gen_protos.py

bench: sync
	@for b in bench/*.py; do echo "== $$b"; $(UV) run --no-sync python $$b || exit 1; done

images:
	@bash scripts/build_images.sh

clean:
	rm -rf var .mypy_cache .ruff_cache .pytest_cache test-artifacts $(WEB_OUT) $(WEB)/node_modules
