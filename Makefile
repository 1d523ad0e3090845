# make demo: install into .venv, run the quickstart job on the builtin teacher and verify it.
# make test: install with the test extras and run the test suite.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
WORKSPACE ?= demo-workspace

.PHONY: install install-dev sandbox-tools demo test lint format clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

install: $(PY) sandbox-tools
	$(PIP) install -q -e .

install-dev: $(PY) sandbox-tools
	$(PIP) install -q -e ".[dev]"

# bubblewrap isolates the code verifier's sandbox; installed where we can (root with
# apt-get), never failing where we cannot (verifiers.sandbox then falls back).
sandbox-tools:
	-@command -v bwrap >/dev/null || (command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] && (apt-get install -y -qq bubblewrap || (apt-get update -qq && apt-get install -y -qq bubblewrap))) || true

demo: install
	$(VENV)/bin/cotmill generate --config examples/quickstart.yaml --workspace $(WORKSPACE)
	$(VENV)/bin/cotmill verify --workspace $(WORKSPACE)
	$(VENV)/bin/cotmill sql --workspace $(WORKSPACE) \
	  "select p.domain, count(distinct p.problem_id) as problems, count(*) as completions, \
	          sum(c.completion_tokens) as completion_tokens \
	   from problems p join completions c using (problem_id) group by 1 order by 1"
	@echo "workspace: $(WORKSPACE)/cotmill.duckdb  (try: $(VENV)/bin/cotmill sql -w $(WORKSPACE) 'select * from jobs')"

test: install-dev
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install-dev
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) $(WORKSPACE) .pytest_cache .ruff_cache
