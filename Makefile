# The two Quickstart commands: `make demo` and `make test`. Each creates .venv on first use
# and installs mdl with the versions pinned in constraints.txt, then runs.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean docs paper

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
	$(VENV)/bin/python -m ruff check mdl tests benchmarks experiments paper
	$(VENV)/bin/python -m ruff format --check mdl tests benchmarks experiments
	$(VENV)/bin/python -m pytest -q -n auto --maxprocesses=4 --dist loadfile

bench: $(STAMP)
	$(VENV)/bin/python benchmarks/codec.py

# The documentation site, into docs/site/ (MkDocs --strict: any warning fails the build).
# The docs extra has its own stamp; KaTeX (math) comes from the npm registry, pinned by
# version and checksum, and is served from the site itself (no CDN).
DOCS_STAMP := $(VENV)/.installed-docs
KATEX_VERSION := 0.16.22
KATEX_SHA256 := e9e0d167db3175481cbadaff38e8d90b130f6a3ddb451a47e43c577fd511f365
KATEX_DIR := build/katex-$(KATEX_VERSION)

$(DOCS_STAMP): $(STAMP) pyproject.toml constraints.txt
	$(VENV)/bin/python -m pip install --quiet -c constraints.txt -e ".[test,docs]"
	touch $(DOCS_STAMP)

$(KATEX_DIR)/katex.min.js:
	@command -v npm >/dev/null || { echo "make docs: npm is needed to fetch KaTeX $(KATEX_VERSION) from the npm registry (Debian: apt-get install npm)" >&2; exit 1; }
	mkdir -p build/npm
	npm pack --silent --pack-destination build/npm katex@$(KATEX_VERSION) >/dev/null
	echo "$(KATEX_SHA256)  build/npm/katex-$(KATEX_VERSION).tgz" | sha256sum --check --quiet
	rm -rf $(KATEX_DIR) && mkdir -p $(KATEX_DIR)
	tar -xzf build/npm/katex-$(KATEX_VERSION).tgz -C $(KATEX_DIR) --strip-components=2 package/dist
	test -f $@

docs: $(DOCS_STAMP) $(KATEX_DIR)/katex.min.js
	MDL_KATEX_DIR=$(KATEX_DIR) $(VENV)/bin/mkdocs build --strict

# The paper, paper/build/main.pdf, from the committed results: tables, numbers.tex and figures
# regenerated into paper/build/generated/ (and the README gallery, docs/figures/paper_*.png),
# then latexmk. TeX Live is installed when missing and apt-get exists (sudo unless root).
# The build fails on an overfull hbox or an undefined reference or citation.
PAPER_TEX := texlive-latex-recommended texlive-latex-extra texlive-fonts-recommended latexmk
PAPER_GENERATED := paper/build/generated

paper: $(STAMP)
	@if ! command -v latexmk >/dev/null || ! kpsewhich placeins.sty >/dev/null; then \
	  command -v apt-get >/dev/null || { echo "make paper: needs TeX Live and latexmk ($(PAPER_TEX))" >&2; exit 1; }; \
	  sudo=""; [ "$$(id -u)" -ne 0 ] && sudo="sudo"; \
	  $$sudo apt-get install -y -q --no-install-recommends $(PAPER_TEX) \
	    || { $$sudo apt-get update -q && $$sudo apt-get install -y -q --no-install-recommends $(PAPER_TEX); }; \
	fi
	$(VENV)/bin/python -m paper.tables $(PAPER_GENERATED)
	$(VENV)/bin/python -m paper.figures $(PAPER_GENERATED) --gallery docs/figures
	cd paper && latexmk -pdf -interaction=nonstopmode -halt-on-error -outdir=build main.tex
	@! grep -nE 'Overfull \\hbox|(Citation|Reference) .* undefined|There were undefined' paper/build/main.log \
	  || { echo "make paper: fix the warnings above (paper/build/main.log)" >&2; exit 1; }
	@echo "paper/build/main.pdf: $$(pdfinfo paper/build/main.pdf 2>/dev/null | sed -n 's/^Pages: *//p') pages"

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
