# The usual loop. `make run` and `make test` are the two commands a newcomer needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SKILLS := $(BIN)/skills-service
STAMP := $(VENV)/.installed-stamp
INSTANCE := instance
RUN_ENV := SKILLS_SECRET_KEY_FILE=$(abspath $(INSTANCE)/secret_key)

.PHONY: install system-packages browser run test check lint types sast bench bench-packages \
	bench-reference fuzz \
	lock clean \
	dockerfile-lint harden-check k8s-render k8s-validate audit sbom checkov tools \
	docker-build compose-secrets compose-up compose-down compose-logs

$(STAMP): requirements/pip.txt requirements/lock.txt pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Python 3.11 or newer is required" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --require-hashes -r requirements/pip.txt
	$(BIN)/pip install --quiet --disable-pip-version-check --require-hashes -r requirements/lock.txt
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

install: $(STAMP)

## system-packages: the Debian packages some tests need, installed when missing: Chromium
## for the browser tests (Playwright drives it; no download), iputils-ping for the
## diagnostics ping, wrk for the benchmark harness's test and nginx for the reverse proxy's
## slow-client test. Outside CI a machine without them only warns, and those tests are
## skipped.
CHROMIUM := /usr/bin/chromium
PING := /usr/bin/ping
WRK := /usr/bin/wrk
NGINX := /usr/sbin/nginx
NGINX_HEADERS_MORE := /usr/lib/nginx/modules/ngx_http_headers_more_filter_module.so
system-packages:
	@{ test -x $(CHROMIUM) && test -x $(PING) && test -x $(WRK) && test -x $(NGINX) && \
		test -f $(NGINX_HEADERS_MORE); } || { \
		SUDO=$$( [ "$$(id -u)" -eq 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends \
			chromium fonts-dejavu-core iputils-ping wrk nginx \
			libnginx-mod-http-headers-more-filter >/dev/null; } || \
		{ [ "$$CI" != true ] && \
			echo "WARNING: no Chromium, ping, wrk or nginx; the browser, ping, benchmark and proxy tests will be SKIPPED" >&2; }

## browser: the same (the name the browser tests point to)
browser: system-packages

$(INSTANCE)/secret_key:
	mkdir -p $(INSTANCE)
	umask 077 && $(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(48))' > $@

## run: the embedded default (SQLite, demo data, an admin) on http://127.0.0.1:8000
run: install $(INSTANCE)/secret_key
	$(RUN_ENV) $(SKILLS) db upgrade
	$(RUN_ENV) $(SKILLS) demo-data --if-empty
	$(RUN_ENV) $(SKILLS) create-user admin@example.org --role admin --name Administrator \
		--one-time-password --exist-ok
	$(RUN_ENV) $(SKILLS) serve --host 127.0.0.1 --port 8000

## test: every gate of `make check`, then the whole test suite (with the benchmark's
## Flask-AppBuilder reference, which its harness test starts)
test: install system-packages bench-reference check
	$(BIN)/pytest

## check: lint, types, SAST, the Dockerfile, the Kubernetes manifests, the dependency
## audit and the SBOM; the gates CI runs before the tests
check: lint types sast dockerfile-lint harden-check k8s-validate checkov audit sbom

lint: install
	$(BIN)/ruff check src tests bench scripts deploy
	$(BIN)/ruff format --check src tests bench scripts deploy

types: install
	$(BIN)/mypy

sast: install
	$(BIN)/bandit --quiet -c pyproject.toml -r src

## bench: at 100,000 people, every figure of the fast path from one run: the query
## latencies (PostgreSQL and SQLite), the HTTP load (wrk) on skills-service against a bare
## Flask app and Flask-AppBuilder under the same gunicorn settings, instructions per
## request (callgrind) and SQL statements per repeated read; last, one table of them all
## against their targets (bench/summary.py), from the JSON files the steps leave in
## bench/results/
SKILLS_BENCH_DATABASE_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
BENCH_PEOPLE ?= 100000
BENCH_RESULTS := bench/results
BENCH_ENV := SKILLS_BENCH_DATABASE_URL=$(SKILLS_BENCH_DATABASE_URL)
INSTRUCTION_SCENARIOS := hello healthz me list skill-change list-after-change
bench: install bench-packages
	mkdir -p $(BENCH_RESULTS)
	rm -f $(addprefix $(BENCH_RESULTS)/,search_gaps.json http_load.json instructions.json \
		statements.json)
	$(BENCH_ENV) $(BIN)/python bench/search_gaps.py --backend both --people $(BENCH_PEOPLE) \
		--json $(BENCH_RESULTS)/search_gaps.json
	$(BENCH_ENV) $(BIN)/python bench/http_load.py --reuse-data --json $(BENCH_RESULTS)/http_load.json
	$(BENCH_ENV) $(BIN)/python bench/count_instructions.py --reuse-data --requests 50 \
		$(addprefix --scenario ,$(INSTRUCTION_SCENARIOS)) --json $(BENCH_RESULTS)/instructions.json
	$(BENCH_ENV) $(BIN)/python bench/count_statements.py --reuse-data \
		--json $(BENCH_RESULTS)/statements.json
	$(BIN)/python bench/summary.py --results $(BENCH_RESULTS)

## bench-packages: wrk (the HTTP load generator) and valgrind (the instruction counter)
## from Debian's packages when missing, and Flask-AppBuilder, the benchmark's second
## reference, in a virtualenv of its own (bench/.venv-fab, from requirements/fab.txt): its
## pins of Flask, SQLAlchemy and marshmallow never touch the service's
VALGRIND := /usr/bin/valgrind
FAB_VENV := bench/.venv-fab
FAB_STAMP := $(FAB_VENV)/.installed-stamp
$(FAB_STAMP): requirements/fab.txt | $(STAMP)
	rm -rf $(FAB_VENV)
	$(BIN)/uv venv --quiet --python $(PYTHON) $(FAB_VENV)
	$(BIN)/uv pip install --quiet --python $(FAB_VENV)/bin/python --require-hashes \
		-r requirements/fab.txt
	touch $@
bench-reference: $(FAB_STAMP)
bench-packages: bench-reference
	@{ test -x $(WRK) && test -x $(VALGRIND); } || { \
		SUDO=$$( [ "$$(id -u)" -eq 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends \
			wrk valgrind >/dev/null; }

## fuzz: the schema fuzzing and the request-parser property tests of the suite, with 20 times the examples
fuzz: install
	SKILLS_FUZZ_EXAMPLES=500 $(BIN)/pytest tests/fuzz

## lock: re-resolve every lock file (with hashes): lock.txt (runtime and dev, for this venv),
## runtime.txt (the image: the same versions, runtime only), build.txt (the wheel build
## backend), pip.txt (the installer, installed before the rest), checkov.txt (its own venv: its pins conflict with the dev tools)
## and fab.txt (the benchmark's Flask-AppBuilder reference, its own venv too)
UV_COMPILE := $(BIN)/uv pip compile --generate-hashes --python-version 3.11
lock: install
	$(UV_COMPILE) pyproject.toml --extra dev -o requirements/lock.txt
	$(UV_COMPILE) pyproject.toml -c requirements/lock.txt -o requirements/runtime.txt
	$(UV_COMPILE) requirements/build.in -c requirements/lock.txt -o requirements/build.txt
	$(UV_COMPILE) requirements/pip.in -o requirements/pip.txt
	$(UV_COMPILE) requirements/checkov.in -o requirements/checkov.txt
	$(UV_COMPILE) requirements/fab.in -o requirements/fab.txt

## harden-check: the project's own container files pass `skills-service harden` (the
## compose file and Dockerfile at the root, the proxy's Dockerfile)
harden-check: install
	$(SKILLS) harden --check . deploy/nginx

## dockerfile-lint: hadolint (rules in .hadolint.yaml)
dockerfile-lint: install
	$(BIN)/hadolint --config .hadolint.yaml Dockerfile deploy/nginx/Dockerfile

## k8s-render: the kustomize base and overlays, rendered into artifacts/k8s/ (kubectl's
## built-in kustomize, else a kustomize binary)
K8S_OVERLAYS := $(notdir $(wildcard deploy/k8s/overlays/*))
K8S_RENDERED := artifacts/k8s/base.yaml $(K8S_OVERLAYS:%=artifacts/k8s/%.yaml)
KUSTOMIZE := $(shell command -v kubectl >/dev/null 2>&1 && echo kubectl kustomize || \
	{ command -v kustomize >/dev/null 2>&1 && echo kustomize build; })
k8s-render:
	@test -n "$(KUSTOMIZE)" || { echo "k8s-render: neither kubectl nor kustomize is installed" >&2; exit 1; }
	@mkdir -p artifacts/k8s
	$(KUSTOMIZE) deploy/k8s/base > artifacts/k8s/base.yaml
	for overlay in $(K8S_OVERLAYS); do \
		$(KUSTOMIZE) deploy/k8s/overlays/$$overlay > artifacts/k8s/$$overlay.yaml || exit 1; done

## k8s-validate: every rendered resource against the Kubernetes API schemas, strictly
k8s-validate: install k8s-render
	$(BIN)/kubernetes-validate --strict --quiet $(K8S_RENDERED)

## checkov: Kubernetes policies on the rendered manifests (what is applied) and Dockerfile
## policies; skipped checks, with reasons, in .checkov.yaml. From its own venv
TOOLS_VENV := .venv-tools
TOOLS_STAMP := $(TOOLS_VENV)/.installed-stamp
$(TOOLS_STAMP): requirements/checkov.txt | $(STAMP)
	rm -rf $(TOOLS_VENV)
	$(BIN)/uv venv --quiet --python $(PYTHON) $(TOOLS_VENV)
	$(BIN)/uv pip install --quiet --python $(TOOLS_VENV)/bin/python --require-hashes \
		-r requirements/checkov.txt
	touch $@
tools: $(TOOLS_STAMP)
checkov: $(TOOLS_STAMP) k8s-render
	$(TOOLS_VENV)/bin/checkov --config-file .checkov.yaml -f Dockerfile -f deploy/nginx/Dockerfile \
		$(addprefix -f ,$(K8S_RENDERED))

## audit: pip-audit of the lock files; prints that it DID NOT RUN, and passes, only when
## no advisory service is reachable (scripts/dependency_audit.py)
audit: install
	$(BIN)/python scripts/dependency_audit.py requirements/runtime.txt requirements/build.txt requirements/pip.txt \
		requirements/lock.txt

## sbom: CycloneDX bill of materials of what the image ships (requirements/runtime.txt).
## --no-validate: the library's own schema self-check costs seconds on every push
sbom: install
	@mkdir -p artifacts
	PYTHONWARNINGS="ignore:The Component this BOM is describing:UserWarning" \
		$(BIN)/cyclonedx-py requirements --no-validate --pyproject pyproject.toml --output-reproducible \
		--output-format JSON --output-file artifacts/sbom.json requirements/runtime.txt

## docker-build, compose-*: need a Docker engine (and the compose plugin)
IMAGE ?= skills-service:local
docker-build:
	docker build --tag $(IMAGE) .

## compose-secrets: random secrets for compose.yaml in deploy/compose/secrets/ (kept if present)
compose-secrets:
	$(PYTHON) deploy/compose/make_secrets.py

compose-up: compose-secrets
	docker compose up --build --detach --wait

compose-down:
	docker compose down

compose-logs:
	docker compose logs --follow --tail=200

clean:
	rm -rf $(VENV) $(TOOLS_VENV) $(FAB_VENV) .mypy_cache .ruff_cache .pytest_cache artifacts/k8s artifacts/sbom.json
