# Two commands do everything on a fresh machine:
#   make demo   set up (virtual environment, packages, models), import the bundled demo survey and identify its animals
#   make test   set up and run the whole test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.pelage-installed
DEMO ?= demo

.PHONY: setup demo test bench screenshots clean-demo package package-test nyala-model nyala-model-gpu

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
	$(BIN)/ruff check app tests bench packaging
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -rs

bench: setup
	$(BIN)/python bench/import_bench.py
	$(BIN)/python bench/detect_bench.py
	$(BIN)/python bench/reid_bench.py
	$(BIN)/python bench/index_bench.py
	$(BIN)/python bench/review_bench.py
	$(BIN)/python bench/finetune_bench.py
	$(BIN)/python bench/scenery_bench.py --seed 8

# Retrain the identification model on ../shared/data/nyala with its model card's recipe (models/nyala-lite0.md), then
# judge it on the calibration identities alone; validation is scored once, only for a model that is kept. An
# interrupted run carries on with NYALA_RECIPE="... --resume". On a CUDA machine, `make nyala-model-gpu` runs the same
# recipe at the photos' full resolution with the whole network learning (what two CPU cores could not afford).
NYALA ?= ../shared/data/nyala
MODEL_OUT ?= .cache/train/nyala-lite0
NYALA_RECIPE ?= --input-size 192x384 --frozen-blocks 3 --epochs 20 --decay-epochs 14,18 --warmup-epochs 2 --seed 0 --workers 1
nyala-model: setup
	$(BIN)/pelage train --labels $(NYALA)/labels.csv --data $(NYALA) --cache .cache/nyala --out $(MODEL_OUT) --name nyala-lite0 \
		$(NYALA_RECIPE)
	$(BIN)/python bench/reid_bench.py --model $(MODEL_OUT) --split calibration --survey-scale --shortlists 100 150 200

nyala-model-gpu:
	$(MAKE) nyala-model MODEL_OUT=.cache/train/nyala-lite0-gpu NYALA_RECIPE="--input-size 256x512 --frozen-blocks 0 --epochs 20 \
		--decay-epochs 14,18 --warmup-epochs 2 --seed 0 --workers 4 --device cuda"

# Screenshots of the main views for the README, on a virtual X server
# (apt-get install xvfb xauth libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1).
screenshots: setup
	QT_QPA_PLATFORM=xcb xvfb-run -a -s "-screen 0 1600x1000x24" $(BIN)/python packaging/screenshots.py

clean-demo:
	rm -rf $(DEMO)

# The desktop build a field biologist unpacks and double-clicks (packaging/README.md): PyInstaller in its own
# environment, so the dev environment's packages never leak into the bundle. TORCH_INDEX picks torch's wheels:
# empty = PyPI (on Linux x86_64 a CUDA build: the app uses an NVIDIA GPU when there is one);
# TORCH_INDEX=https://download.pytorch.org/whl/cpu gives the CPU-only build, several GB smaller.
PACKAGE_VENV ?= build/package-venv
PACKAGE_STAMP := $(PACKAGE_VENV)/.pelage-installed
TORCH_INDEX ?=

$(PACKAGE_STAMP): pyproject.toml requirements/constraints.txt
	$(PYTHON) -m venv $(PACKAGE_VENV)
	$(PACKAGE_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(PACKAGE_VENV)/bin/python -m pip install --quiet -c requirements/constraints.txt $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX)) \
		--config-settings editable_mode=compat -e '.[package]'
	touch $@

package: $(PACKAGE_STAMP)
	$(PACKAGE_VENV)/bin/python packaging/build.py

# Unpacks the archive into an empty folder and runs it as a user would (tests/test_package.py); fails without one.
package-test: $(STAMP)
	PELAGE_PACKAGE_TEST=1 $(BIN)/python -m pytest -rs tests/test_package.py
