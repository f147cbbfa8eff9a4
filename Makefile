# simslab: `make demo` and `make test` work on a fresh machine with Python 3.11, pip, git, make.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test bench soak clean-data venv

venv: $(STAMP)

$(STAMP): pyproject.toml setup.py
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/simslab demo

test: $(STAMP)
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/simslab bench --json bench-output/bench.json

soak: $(STAMP)
	$(BIN)/simslab soak --campaigns 50 --seed 1 --json bench-output/soak.json

clean-data:
	rm -rf simslab-data demo-output bench-output
