# The usual loop. `make run` and `make test` are the two commands a newcomer needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SKILLS := $(BIN)/skills-service
STAMP := $(VENV)/.installed-stamp
INSTANCE := instance
RUN_ENV := SKILLS_SECRET_KEY_FILE=$(abspath $(INSTANCE)/secret_key)

.PHONY: install system-packages browser run test check lint types sast bench fuzz lock clean

$(STAMP): requirements/lock.txt pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Python 3.11 or newer is required" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --require-hashes -r requirements/lock.txt
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

install: $(STAMP)

## system-packages: the Debian packages some tests need, installed when missing: Chromium
## for the browser tests (Playwright drives it; no download) and iputils-ping for the
## diagnostics ping. Outside CI a machine without them only warns, and those tests are skipped.
CHROMIUM := /usr/bin/chromium
PING := /usr/bin/ping
system-packages:
	@{ test -x $(CHROMIUM) && test -x $(PING); } || { \
		SUDO=$$( [ "$$(id -u)" -eq 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends \
			chromium fonts-dejavu-core iputils-ping >/dev/null; } || \
		{ [ "$$CI" != true ] && \
			echo "WARNING: no Chromium or no ping; the browser and ping tests will be SKIPPED" >&2; }

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

## test: every gate of `make check`, then the whole test suite
test: install system-packages check
	$(BIN)/pytest

check: lint types sast

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

types: install
	$(BIN)/mypy

sast: install
	$(BIN)/bandit --quiet -c pyproject.toml -r src

## bench: search and gap-analysis latency at 100,000 people (PostgreSQL and SQLite)
SKILLS_BENCH_DATABASE_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
bench: install
	SKILLS_BENCH_DATABASE_URL=$(SKILLS_BENCH_DATABASE_URL) $(BIN)/python bench/search_gaps.py --backend both

## fuzz: the schema fuzzing of the test suite, with 20 times the examples per operation
fuzz: install
	SKILLS_FUZZ_EXAMPLES=500 $(BIN)/pytest tests/fuzz

## lock: re-resolve requirements/lock.txt (with hashes) from pyproject.toml
lock: install
	$(BIN)/uv pip compile pyproject.toml --extra dev --generate-hashes \
		--python-version 3.11 -o requirements/lock.txt

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
