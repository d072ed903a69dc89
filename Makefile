# The two Quickstart commands: `make demo` and `make test`. Each creates .venv on first use
# and installs mdl with the versions pinned in constraints.txt, then runs.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean

# Tests run in up to 4 worker processes (one test file per worker at a time, so a file's
# module fixtures are built once): jit compilation is single-threaded, so even 2 cores gain.

$(STAMP): pyproject.toml constraints.txt
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -c constraints.txt -e ".[test]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/mdl sweep --out results/demo

test: $(STAMP)
	$(VENV)/bin/python -m ruff check mdl tests benchmarks experiments
	$(VENV)/bin/python -m pytest -q -n auto --maxprocesses=4 --dist loadfile

bench: $(STAMP)
	$(VENV)/bin/python benchmarks/codec.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
