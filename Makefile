# fdl: `make lesson` builds the lesson book, `make test` checks everything.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
VENV ?= .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.fdl-installed
TORCH ?= torch==2.13.0
CTAGS ?= ctags
TAGS_FILE ?= tags

# Keep IPython, Jupyter and matplotlib state inside the checkout, not in $HOME.
export IPYTHONDIR := $(CURDIR)/.cache/ipython
export JUPYTER_CONFIG_DIR := $(CURDIR)/.cache/jupyter
export MPLCONFIGDIR := $(CURDIR)/.cache/matplotlib
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: install lesson test bench export clean-lesson tags
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

# The lesson book: Sphinx + myst-nb (docs/conf.py). A notebook runs only when its code changed since
# the last build (jupyter-cache in .cache/jupyter_cache); the first build runs them all.
lesson: install
	@echo "==> building the lesson book: Sphinx + myst-nb, running the notebooks jupyter-cache does not hold"
	@# each notebook's kernel warns that it talks over local TCP without encryption: those lines are dropped
	$(PY) -m sphinx -b html -q -d .cache/doctrees -c docs . _lesson 2>&1 \
	  | { grep -v 'Kernel is running over TCP without encryption' || true; }
	@echo "==> The lesson book is at $(CURDIR)/_lesson/index.html (open it in a browser; no network needed)"

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
	@echo "==> benchmarks: fdl beside torch, time ratios (ARGS='stats --quick' for one module, shorter runs)"
	$(PY) bench/run.py --json bench/results.json $(ARGS)

export: install
	$(BIN)/nbdev_export
	$(BIN)/nbdev_clean
	$(PY) tools/readme.py

# An editor's tags (vim, Emacs, VS Code) for fdl/ and the installed torch: jump from fdl's code into torch's source.
tags:
	@[[ "$$($(CTAGS) --version 2>/dev/null)" == *"Universal Ctags"* ]] || { echo "make tags needs Universal Ctags: sudo apt-get install universal-ctags (macOS: brew install universal-ctags)" >&2; exit 1; }
	@torch_dir=$$($(PY) -c 'from importlib.util import find_spec; print(find_spec("torch").submodule_search_locations[0])' 2>/dev/null) || { echo "make tags needs torch in $(VENV): run make install first" >&2; exit 1; }; \
	echo "==> writing $(TAGS_FILE): Universal Ctags over fdl/ and $$torch_dir"; \
	$(CTAGS) -R --languages=Python --kinds-Python=-iIx --fields=+n --extras=+q -f "$(TAGS_FILE)" ./fdl "$$torch_dir"

clean-lesson:
	rm -rf _lesson jupyter_execute .cache/doctrees .cache/jupyter_cache docs/api
