# bodycam: the two commands a newcomer needs are `make sim` and `make test`.
# Each creates .venv and installs the project into it when that has not been done yet.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
ARGS   ?=

.PHONY: sim test hil bench lint clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

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
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
