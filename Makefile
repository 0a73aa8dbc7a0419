# Each target works on a fresh machine with only python3: it creates and reuses .venv.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: demo test bench install browser clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

## make demo: the bank, the collector and the TUI, all at once (Ctrl-C or q stops everything)
demo: $(STAMP)
	$(BIN)/critpath demo

## make test: the whole suite (unit, integration, TUI, browser); installs Chromium if missing
test: $(STAMP) browser
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## make bench: the benchmarks under bench/, printed as ratios to references measured in the same run
bench: $(STAMP)
	$(BIN)/python -m bench

## make browser: Debian's Chromium for the dashboard's browser tests
browser:
	@command -v chromium >/dev/null 2>&1 || scripts/install-chromium

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis build *.egg-info
