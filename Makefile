# Two entry points: `make demo` runs the main job, `make test` runs every test.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: setup demo up test bench image clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[coordinator,test,browser]'
	touch $(STAMP)

setup: $(STAMP)

# Coordinator + dashboard + 3 local workers, running the demonstration suite with injected faults.
demo: $(STAMP)
	$(VENV)/bin/dtf up --workers 3 --demo

up: $(STAMP)
	$(VENV)/bin/dtf up --workers 3

test: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider

# dtf:latest for `docker compose up`, built with no registry (see docker/build-image.sh); also
# arranges `docker compose` itself where it is missing (Debian, as root).
image:
	bash docker/build-image.sh

bench: $(STAMP)
	$(PY) bench/throughput.py

clean:
	rm -rf $(VENV) .dtf build *.egg-info docker/wheels/*.whl docker/wheels/.key
