# Everything is set up from nothing: `make test` installs the Debian packages it needs
# (scripts/system-deps.sh holds the list), builds .venv, lints and runs the tests.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Rebuilt (pip install) whenever pyproject.toml changes; lives inside .venv so that deleting
# the venv also forgets it.
VENV_STAMP := $(VENV)/.stamp-pyproject
RUN_ARGS ?= --host 127.0.0.1 --port 5000
PYTEST_ARGS ?= -q

# Tests see the code's defaults, not whatever the developer's shell exports for the server.
# IVR_TEST_POSTGRES_URL passes through on purpose: it points the tests at an existing server.
TEST_ENV := env -u IVR_DATABASE_URL -u IVR_PUBLIC_URL -u IVR_CONFIG_DIR -u IVR_SECRET_KEY \
	-u IVR_API_TOKEN -u IVR_DIALOGS -u IVR_FLOW -u TWILIO_AUTH_TOKEN -u TWILIO_ACCOUNT_SID \
	TZ=UTC LC_ALL=C.UTF-8 PYTHONDONTWRITEBYTECODE=1

export PIP_DISABLE_PIP_VERSION_CHECK := 1
export PIP_NO_INPUT := 1

.PHONY: all venv system-deps run lint test test-fast bench clean

all: test

venv: $(VENV_STAMP)

$(VENV_STAMP): pyproject.toml
	@$(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || bash scripts/system-deps.sh --base
	@# (Re)create it when missing or half-made, e.g. by a venv attempt without ensurepip.
	$(BIN)/python -m pip --version >/dev/null 2>&1 || $(PYTHON) -m venv --clear $(VENV)
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

system-deps:
	bash scripts/system-deps.sh

run: venv
	$(BIN)/ivr serve $(RUN_ARGS)

# The linters (ruff, import-linter, mypy) all run even when one fails.
lint: venv
	@status=0; \
	echo "$(BIN)/ruff check ."; $(BIN)/ruff check . || status=$$?; \
	echo "$(BIN)/lint-imports"; $(BIN)/lint-imports || status=$$?; \
	echo "$(BIN)/mypy"; $(BIN)/mypy || status=$$?; \
	exit $$status

# In order even under `make -j`: packages, venv, lint, then the tests. The tests run even when
# lint fails, so one CI run reports both; the target fails if either did.
test: system-deps
	$(MAKE) --no-print-directory venv
	@status=0; \
	$(MAKE) --no-print-directory lint || { status=$$?; echo "make test: lint FAILED" >&2; }; \
	echo "$(TEST_ENV) $(BIN)/pytest $(PYTEST_ARGS)"; \
	$(TEST_ENV) $(BIN)/pytest $(PYTEST_ARGS) || { status=$$?; echo "make test: tests FAILED" >&2; }; \
	exit $$status

# The day-to-day lane: `make test` without the tests that need PostgreSQL, drive headless
# Chromium, stream audio in real time or start processes (markers in pyproject.toml). Lint
# runs first, as in `make test`.
FAST_MARKERS := not postgres and not browser and not realtime and not slow
test-fast: system-deps
	$(MAKE) --no-print-directory venv
	@status=0; \
	$(MAKE) --no-print-directory lint || { status=$$?; echo "make test-fast: lint FAILED" >&2; }; \
	echo "$(TEST_ENV) $(BIN)/pytest $(PYTEST_ARGS) -m '$(FAST_MARKERS)'"; \
	$(TEST_ENV) $(BIN)/pytest $(PYTEST_ARGS) -m '$(FAST_MARKERS)' || \
		{ status=$$?; echo "make test-fast: tests FAILED" >&2; }; \
	exit $$status

bench: venv
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache .import_linter_cache bench/results
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
