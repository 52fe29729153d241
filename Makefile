# vpsshop: `make run` starts the demo, `make test` runs the whole suite.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
# One stamp per set of files, named after their checksum: editing any of them reinstalls.
RUNTIME_FILES := requirements.txt
DEMO_FILES := $(RUNTIME_FILES) requirements-demo.txt
DEV_FILES := $(DEMO_FILES) requirements-dev.txt
stamp = $(VENV)/.installed-$(1)-$(shell cat $(2) | cksum | cut -d' ' -f1)
DEMO_STAMP := $(call stamp,demo,$(DEMO_FILES))
DEV_STAMP := $(call stamp,dev,$(DEV_FILES))
PIP_INSTALL = $(BIN)/pip install --quiet --disable-pip-version-check

.PHONY: install run test lint format bench

$(DEMO_STAMP): $(DEMO_FILES)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) -r requirements-demo.txt
	rm -f $(VENV)/.installed-* && touch $(DEMO_STAMP)

# The dev set contains the demo's, so installing it makes both stamps current.
$(DEV_STAMP): $(DEV_FILES)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) -r requirements-dev.txt
	rm -f $(VENV)/.installed-* && touch $(DEV_STAMP) $(DEMO_STAMP)

# A developer's venv: everything the tests, the linter, the bench and the demo use.
install: $(DEV_STAMP)

run: $(DEMO_STAMP)
	$(BIN)/python -m vpsshop.demo

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(DEV_STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Three pytest-xdist processes, each with its own database and Redis db index
# (tests/conftest.py); TEST_PROCESSES=0 runs in one process.
TEST_PROCESSES ?= 3
test: lint
	$(BIN)/python -m pytest -n $(TEST_PROCESSES) $(PYTEST_ARGS)

bench: $(DEV_STAMP)
	$(BIN)/python -m bench
