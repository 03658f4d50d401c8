# `make demo` and `make test` work on a fresh machine: each creates .venv when missing.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: install demo demo-reset test lint format

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(PY) pyproject.toml
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# The demo listens on 127.0.0.1 only; `make demo DEMO_ARGS="--host 0.0.0.0"` opens it to the
# network deliberately. line_simulator is imported from this source tree (it is not in the wheel).
# The demo keeps its data in .demo/ between runs; `make demo-reset` starts it over.
demo: install
	$(PY) -m bot demo $(DEMO_ARGS)

demo-reset: install
	$(PY) -m bot demo --reset $(DEMO_ARGS)

# Four test processes, even on two cores: much of the suite waits on sockets, child processes
# and the browser. Each test has a database of its own (a copy of a template the run migrates
# once; on PostgreSQL a finished test's copy is emptied for the next) and picks free ports, so
# the processes do not share state. Bytecode is cached even where PYTHONDONTWRITEBYTECODE is
# set: each test process and each `python -m bot` the suite starts would otherwise compile
# the tree again (collecting took 10 s a process instead of 5.6 s).
test: install
	PYTHONDONTWRITEBYTECODE= $(PY) -m pytest -n 4

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .
