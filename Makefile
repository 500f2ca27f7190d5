# Bulk Mailer: `make run` starts the app, `make test` runs every check.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check -q

.PHONY: run test lint typecheck pytest bench torture native-deps lock clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(VENV)/.run-deps: pyproject.toml | $(PY)
	$(PIP) install -e .
	@touch $@

# Tests (and so CI) install the pinned versions of constraints.txt; `make run` stays plain pip.
$(VENV)/.test-deps: pyproject.toml constraints.txt | $(PY)
	$(PIP) install -c constraints.txt -e ".[test]"
	@touch $@ $(VENV)/.run-deps

run: $(VENV)/.run-deps
	$(PY) main.py $(ARGS)

lint: $(VENV)/.test-deps
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

typecheck: $(VENV)/.test-deps
	$(PY) -m mypy

pytest: $(VENV)/.test-deps
	$(PY) -m pytest $(PYTEST_ARGS)

test: lint typecheck pytest

bench: $(VENV)/.test-deps
	$(PIP) install -c constraints.txt -e ".[bench]"
	$(PY) -m bench $(ARGS)

# The native window's test (tests/e2e/test_native.py) needs pywebview + Qt (~530 MB); without
# them it skips, so `make test` works on a laptop without Qt. CI installs them first.
native-deps: $(VENV)/.test-deps
	$(PIP) install -c constraints.txt -e ".[native]"

torture: $(VENV)/.test-deps
	BULKMAILER_TORTURE=1 $(PY) -m pytest tests/core/test_crash_resume.py $(PYTEST_ARGS)

# Refresh constraints.txt: every extra, every platform (markers), Python 3.11 and newer.
lock: | $(PY)
	$(PIP) install "uv>=0.5,<1"
	$(VENV)/bin/uv pip compile pyproject.toml --all-extras --universal --python-version 3.11 \
		--no-header -o constraints.txt

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
