# textfit: `make demo` trains, evaluates and predicts on the bundled SMS spam sample;
# `make test` runs the whole test suite (as CI does), `make test-fast` all but the real-model and
# subprocess tests, `make test-range` the fast tier on the lowest and on the newest versions allowed.
# `make venv` (and so `make demo`) sets up .venv with what textfit needs to run; the developer
# targets (test, lint, ...) add the dev extras on top. LOCKED=1 (CI) installs requirements-lock.txt.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
SAMPLE := src/textfit/samples/sms_spam
DEMO_RUN := runs/sms-demo

# torch is installed only where the environment has none: a GPU user installs their CUDA build
# into $(VENV) first (or sets TORCH_SPEC / TORCH_INDEX_URL) and keeps it. Otherwise:
#  1. a wheel on disk, through pip's configured find-links (`pip install --no-index`);
#  2. else from TORCH_INDEX_URL: PyTorch's CPU index where there is no nvidia-smi, or pip's own
#     index (PyPI: the CUDA build) where there is. `make print-torch` shows the choice.
TORCH_SPEC ?= torch==2.13.0
TORCH_CPU_INDEX := https://download.pytorch.org/whl/cpu
HAS_GPU := $(if $(shell command -v nvidia-smi 2>/dev/null),yes,no)
TORCH_INDEX_URL ?= $(if $(filter yes,$(HAS_GPU)),,$(TORCH_CPU_INDEX))
TORCH_INSTALL = $(PIP) install -q --no-index --no-deps "$(TORCH_SPEC)" 2>/dev/null \
	|| $(PIP) install -q $(if $(TORCH_INDEX_URL),--index-url $(TORCH_INDEX_URL) )"$(TORCH_SPEC)"
KEEP_OR_INSTALL_TORCH = $(BIN)/python -c "import torch" 2>/dev/null || { $(TORCH_INSTALL); }

# What the developer targets install: the dev extras, newest releases (default), or CI's pinned set.
LOCK := requirements-lock.txt
LOCKED_TORCH := $(filter torch==%,$(file < $(LOCK)))
DEV_STAMP := $(if $(filter 1,$(LOCKED)),$(VENV)/.installed-lock,$(VENV)/.installed-dev)

.PHONY: help venv dev demo test test-fast test-range lint audit lock format bench print-torch clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# What a user needs to run textfit: torch (above), then textfit and its dependencies.
$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(KEEP_OR_INSTALL_TORCH)
	$(PIP) install -q -e .
	touch $@

# The developer's set: the same plus the dev extras (pytest, ruff, mypy, onnx, serve, tune, ...).
$(VENV)/.installed-dev: $(VENV)/.installed
	$(PIP) install -q -e ".[dev]"
	touch $@

# CI's set (LOCKED=1): every package at its version in the lock (torch by the rule above, the lock's
# pin its spec), then textfit, all without resolving; `pip check` fails a lock that misses a package.
$(VENV)/.installed-lock: TORCH_SPEC = $(LOCKED_TORCH)
$(VENV)/.installed-lock: $(BIN)/python $(LOCK) pyproject.toml
	$(KEEP_OR_INSTALL_TORCH)
	grep -v '^torch==' $(LOCK) > $(VENV)/lock-less-torch.txt
	$(PIP) install -q --no-deps -r $(VENV)/lock-less-torch.txt
	$(PIP) install -q -e . --no-deps
	$(PIP) check
	touch $@

venv: $(VENV)/.installed  ## set up .venv to run textfit: torch (kept if there), textfit and its model

dev: $(DEV_STAMP)  ## set up .venv for development: venv plus the dev extras (LOCKED=1: the lock's pins)

demo: venv  ## train MiniLM on the SMS spam sample, evaluate on its test part, predict two messages
	$(BIN)/textfit train $(SAMPLE)/train.csv --test-file $(SAMPLE)/test.csv --epochs 1 \
		--output-dir $(DEMO_RUN) --overwrite
	$(BIN)/textfit evaluate $(DEMO_RUN) $(SAMPLE)/test.csv
	$(BIN)/textfit predict $(DEMO_RUN) \
		--text "WINNER! You have won a 1000 GBP prize. Call 09061701461 to claim now" \
		--text "Are we still meeting for lunch tomorrow?"

test: dev  ## run the whole test suite, as CI does (about 5 minutes), and list the 15 slowest tests
	$(BIN)/python -m pytest -q --durations=15

test-fast: dev  ## the suite less the real-model and subprocess tests (about 2 minutes)
	$(BIN)/python -m pytest -q -m "not slow and not subprocess"

test-range:  ## test-fast on pyproject's floors of torch, transformers, datasets, accelerate, then on the newest
	PYTHON=$(PYTHON) TORCH_SPEC="$(TORCH_SPEC)" TORCH_INDEX_URL="$(TORCH_INDEX_URL)" bash .ci/range lowest
	PYTHON=$(PYTHON) TORCH_SPEC="$(TORCH_SPEC)" TORCH_INDEX_URL="$(TORCH_INDEX_URL)" bash .ci/range newest

lint: dev  ## ruff (lint + format check) and mypy strict on src/
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

audit: dev  ## pip-audit requirements-lock.txt against PyPI's advisories (skips, saying so, offline)
	BIN=$(BIN) bash .ci/audit

lock: dev  ## pin every package of .venv into requirements-lock.txt (what CI installs and audits)
	$(BIN)/python -m pip freeze --all --exclude pip --exclude-editable | sed -E 's/\+[[:alnum:].]+$$//' > $(LOCK)

format: dev  ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix src tests benchmarks
	$(BIN)/ruff format src tests benchmarks

bench: dev  ## tutorial pipeline vs textfit on ../shared/data/sms_spam (about 20 minutes)
	$(BIN)/python benchmarks/bench_sms.py

print-torch:  ## how set-up would install torch on this machine (installs nothing)
	@echo "nvidia-smi found: $(HAS_GPU)"; \
	if $(BIN)/python -c "import torch" 2>/dev/null; then \
		echo "$(VENV) has torch $$($(BIN)/python -c 'import torch; print(torch.__version__)'): kept"; fi; \
	echo 'torch install: $(TORCH_INSTALL)'

clean:  ## remove .venv, the test-range venvs and runs/
	rm -rf $(VENV) $(VENV)-lowest $(VENV)-newest runs
