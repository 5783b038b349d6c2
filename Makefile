# The few commands people type. `make demo` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
DOCS_STAMP := $(VENV)/.installed-docs
# The CPU build of PyTorch; installed only when the environment has no torch at all,
# so that users who already have a CUDA build keep it.
TORCH_CPU ?= torch==2.13.0

.PHONY: install demo test test-fast lint format docs clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): $(PY) pyproject.toml
	@$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install --quiet "$(TORCH_CPU)"
	$(PY) -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP)

# The docs extra (mkdocs, mkdocstrings, the theme), on top of the dev install.
$(DOCS_STAMP): $(STAMP) pyproject.toml
	$(PY) -m pip install --quiet -e ".[dev,docs]"
	@touch $(DOCS_STAMP)

demo: $(STAMP)
	$(VENV)/bin/genmodels compare --target eight_gaussians --methods nuts,mala,smc,gan,vae,flow,ncsn,ddpm,flow_matching --out runs/demo

lint: $(STAMP)
	$(PY) -m ruff check src tests benchmarks examples
	$(PY) -m ruff format --check src tests benchmarks examples

format: $(STAMP)
	$(PY) -m ruff check --fix src tests benchmarks examples
	$(PY) -m ruff format src tests benchmarks examples

test: lint
	OMP_NUM_THREADS=1 $(PY) -m pytest -q -n 2 --durations=25

test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow"

# The documentation site into site/; a warning (a docstring griffe cannot parse, a broken
# link, a page missing from the nav) fails the build.
docs: $(DOCS_STAMP)
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict

clean:
	rm -rf $(VENV) runs site .pytest_cache .ruff_cache
