# Each target works on a fresh machine with only python3: it creates and reuses .venv.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: demo test bench install build-deps test-deps screenshots clean

# setup.py and the C source: the compiled decoder is rebuilt when they change.
$(STAMP): pyproject.toml setup.py analyzer/decode/_otlpwire.c
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); \
	  echo "make: '$(PYTHON) -m venv $(VENV)' failed: this Python has no working venv module." >&2; \
	  echo "  On Debian or Ubuntu install it with:  sudo apt-get install python3-venv" >&2; \
	  echo "  (or choose another Python: make PYTHON=python3.12 ...), then run make again." >&2; \
	  exit 1; }
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

## make demo: the bank, the collector and the TUI, all at once (q or Ctrl-C in the TUI stops
## everything it started and says where the data is)
demo: $(STAMP)
	$(BIN)/critpath demo

## make test: the whole suite (unit, integration, TUI, browser, end to end); installs Debian's
## chromium and redis-server (and docker-compose beside a docker client) if missing
test: build-deps $(STAMP) test-deps
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## make bench: the benchmarks under bench/, printed as ratios to references measured in the same run
## (all but the 10-minute soak: run that with .venv/bin/python -m bench bench_soak)
bench: $(STAMP)
	$(BIN)/python -m bench

## make build-deps: what compiling the fast OTLP decoder needs (gcc, the Python headers), each
## only if missing; make test runs it before the first install so CI builds the extension
## (make demo does not: without a compiler the demo runs on the pure-Python decoder)
build-deps:
	@scripts/install-test-deps --build $(PYTHON)

## make test-deps: Debian's chromium (browser tests), redis-server (the bank's broker tests) and,
## beside a docker client, docker-compose (checks docker-compose.yml); each only if missing
test-deps:
	@scripts/install-test-deps

## make screenshots: the pictures in docs/screenshots/ (dashboard pages, and the TUI and dashboard on the demo bank)
screenshots: $(STAMP) test-deps
	CRITPATH_SCREENSHOTS=docs/screenshots $(BIN)/python -m pytest -q tests/browser/test_screenshots.py tests/e2e -k "screenshots or as_is"

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis build *.egg-info
