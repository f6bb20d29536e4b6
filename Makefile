# bodycam: the two commands a newcomer needs are `make sim` and `make test`.
# Each creates .venv and installs the project into it when that has not been done yet.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
ARGS   ?=
PIP    := pip install --quiet --disable-pip-version-check
# The exact versions, with the hash of every platform's file (x86_64 CI, aarch64 Pi), that every
# install uses: requirements-test.lock here and in CI, requirements.lock on the Pi. `make lock`
# refreshes both from pyproject.toml's ranges (and lock-constraints.txt).
LOCK      := requirements.lock
TEST_LOCK := requirements-test.lock
UV_VERSION ?= 0.13.8
LOCK_VENV  := .venv-lock

.PHONY: sim test hil bench lint clean lock

$(STAMP): pyproject.toml $(TEST_LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/$(PIP) --require-hashes -r $(TEST_LOCK)
	$(BIN)/$(PIP) --no-deps -e .
	touch $(STAMP)

## lock: re-resolve requirements.lock and requirements-test.lock to the newest versions that
##       pyproject.toml and lock-constraints.txt allow, for Python 3.11 on every platform
lock:
	test -x $(LOCK_VENV)/bin/uv || { $(PYTHON) -m venv $(LOCK_VENV) && \
	  $(LOCK_VENV)/bin/$(PIP) 'uv==$(UV_VERSION)'; }
	$(LOCK_VENV)/bin/uv pip compile pyproject.toml $(LOCK_FLAGS) -o $(LOCK)
	$(LOCK_VENV)/bin/uv pip compile pyproject.toml --extra test $(LOCK_FLAGS) -c $(LOCK) \
	  -o $(TEST_LOCK)

LOCK_FLAGS := --universal --python-version 3.11 --generate-hashes -c lock-constraints.txt \
	--upgrade --quiet --custom-compile-command 'make lock'

## sim: run the simulated camera; open the address it prints. ARGS="--tui" for the terminal
##      panel, ARGS="--headless" for a line per event, ARGS="--web-port 0" for any free port.
sim: $(STAMP)
	$(BIN)/bodycam sim $(ARGS)

## test: the whole test suite
test: $(STAMP)
	$(BIN)/python -m pytest $(ARGS)

## hil: the hardware-in-the-loop suite, on the simulator (also part of `make test`);
##      a board: ARGS="--hil-url /dev/ttyUSB0" (see README, Hardware-in-the-loop tests)
hil: $(STAMP)
	$(BIN)/python -m pytest tests/hil $(ARGS)

## bench: the benchmarks, printed as a table
bench: $(STAMP)
	$(BIN)/python scripts/bench.py $(ARGS)

## lint: ruff
lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) $(LOCK_VENV) build *.egg-info .pytest_cache .ruff_cache
