# fdl: `make lesson` builds the lesson book, `make test` checks everything.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
VENV ?= .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.fdl-installed
TORCH ?= torch==2.13.0

# Keep IPython, Jupyter and matplotlib state inside the checkout, not in $HOME.
export IPYTHONDIR := $(CURDIR)/.cache/ipython
export JUPYTER_CONFIG_DIR := $(CURDIR)/.cache/jupyter
export MPLCONFIGDIR := $(CURDIR)/.cache/matplotlib
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: install lesson test bench export clean-lesson
.DEFAULT_GOAL := lesson

$(PY):
	@echo "==> creating $(VENV) with $$(python3 --version)"
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): $(PY) setup.py settings.ini
	@echo "==> installing torch ($(TORCH), CPU) unless a torch is already there"
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install --progress-bar off "$(TORCH)"
	@echo "==> installing fdl and its development tools (pip install -e '.[dev]')"
	$(PY) -m pip install --progress-bar off -e ".[dev]"
	@touch $(STAMP)
	@echo "==> installed into $(VENV)"

install: $(STAMP)
	@mkdir -p $(IPYTHONDIR) $(JUPYTER_CONFIG_DIR) $(MPLCONFIGDIR)

lesson: install
	@echo "==> executing every lesson notebook and building the offline lesson book"
	$(PY) tools/build_lesson.py --out _lesson

test: install
	@echo "==> checking that fdl/ matches the notebooks and the notebooks are clean"
	$(PY) tools/check_sync.py
	@echo "==> checking that README.md says what nbs/index.ipynb says"
	$(PY) tools/readme.py --check
	@echo "==> nbdev_test: running every notebook"
	$(BIN)/nbdev_test
	@echo "==> pytest"
	$(PY) -m pytest

bench: install
	@echo "==> benchmarks: fdl beside torch, time ratios"
	$(PY) bench/run.py $(ARGS)

export: install
	$(BIN)/nbdev_export
	$(BIN)/nbdev_clean
	$(PY) tools/readme.py

clean-lesson:
	rm -rf _lesson
