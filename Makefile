# Two commands do everything on a fresh machine:
#   make demo   set up (virtual environment, packages, models), import the bundled demo survey and identify its animals
#   make test   set up and run the whole test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.pelage-installed
DEMO ?= demo

.PHONY: setup demo test bench screenshots clean-demo

setup: $(STAMP)
	$(BIN)/pelage models install u2netp

$(STAMP): pyproject.toml requirements/constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements/constraints.txt -e '.[dev]'
	touch $@

demo: setup
	$(BIN)/pelage demo-survey $(DEMO)/survey
	$(BIN)/pelage import $(DEMO)/survey --project $(DEMO)/project
	$(BIN)/pelage info $(DEMO)/project
	$(BIN)/pelage identify $(DEMO)/project
	$(BIN)/pelage candidates $(DEMO)/project $$($(BIN)/pelage animals $(DEMO)/project --json | $(BIN)/python -c "import json, sys; print(json.load(sys.stdin)[0]['id'])")
	$(BIN)/pelage propose $(DEMO)/project --json
	$(BIN)/pelage stations $(DEMO)/project --import $(DEMO)/survey/stations.csv
	$(BIN)/pelage export $(DEMO)/project --format secr --out $(DEMO)/export-secr --force

test: setup
	$(BIN)/ruff check app tests bench
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -rs

bench: setup
	$(BIN)/python bench/import_bench.py
	$(BIN)/python bench/detect_bench.py
	$(BIN)/python bench/reid_bench.py
	$(BIN)/python bench/index_bench.py
	$(BIN)/python bench/review_bench.py
	$(BIN)/python bench/finetune_bench.py

# Screenshots of the main views for the README, on a virtual X server
# (apt-get install xvfb xauth libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1).
screenshots: setup
	QT_QPA_PLATFORM=xcb xvfb-run -a -s "-screen 0 1600x1000x24" $(BIN)/python packaging/screenshots.py

clean-demo:
	rm -rf $(DEMO)
