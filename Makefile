# Two commands: `make lab` opens the course, `make test` runs every test.
# Both build .venv/ first; re-running is quick when nothing changed.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Every version is locked in requirements.lock (made by `make lock`, installed by tools/install.py),
# except torch: tools/install.py pins torch==2.13.0, the CPU build the course's machines keep on disk
# (a bare `torch` would pull a multi-GB CUDA build). On your own machine you may ask for another:
#   make venv TORCH_SPEC='torch>=2.1'
TORCH_SPEC ?=
TORCH_ARG = $(if $(TORCH_SPEC),--torch "$(TORCH_SPEC)",)
STAMP  := $(VENV)/.installed

.PHONY: venv lab test clean lock test-latest

venv: $(STAMP)

# Built anew whenever the lock (or how it is installed) changes, so that it holds exactly the lock.
$(STAMP): pyproject.toml requirements.lock tools/install.py Makefile
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python tools/install.py install $(TORCH_ARG)
	touch $@

# Refresh the lock from pyproject.toml's ranges (today's newest releases; KEEP=1 keeps every pin and
# only adds what pyproject.toml newly asks for) and rewrite environment.yml to match; then run `make test` and commit both only if it passes. TORCH_WHEELS: where torch's CPU
# build lies (default /opt/wheels on the course's machines). It needs only Python: the resolver (uv)
# goes into a small environment of its own, so a lock that no longer installs can still be refreshed.
LOCKENV := .venv-lock
lock:
	test -x $(LOCKENV)/bin/python || $(PYTHON) -m venv $(LOCKENV)
	$(LOCKENV)/bin/python tools/lock.py refresh $(if $(TORCH_WHEELS),--torch-wheels "$(TORCH_WHEELS)",) $(if $(filter 1,$(KEEP)),--keep,)

# The drift canary: a throw-away environment from pyproject.toml's open ranges with today's newest
# releases, and the whole suite in it. Run it before a term starts and before `make lock`.
LATEST := .venv-latest
test-latest:
	rm -rf $(LATEST)
	$(PYTHON) -m venv $(LATEST)
	$(LATEST)/bin/python tools/install.py latest $(TORCH_ARG)
	LMSAMPLE_UNLOCKED=1 $(LATEST)/bin/python -m pytest $(PYTEST_ARGS)

lab: venv
	$(BIN)/jupyter lab --notebook-dir=lessons $(if $(filter 0,$(shell id -u)),--allow-root,) $(LAB_ARGS)

test: venv
	$(BIN)/python -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) $(LATEST) $(LOCKENV) build *.egg-info

# Grade a folder or zip of submissions (<student>/<assignment>/<notebook>.ipynb) in autograder/:
#   make grade SUBMISSIONS=path/to/folder-or.zip [ROSTER=students.csv] [WORKERS=2] [NO_SANDBOX=1]
#              [SCHEDULER=tcp://host:8786]
# Each student x lesson is a Dask task: on an embedded cluster of WORKERS processes on this machine
# (default: one per core), or on the existing Dask cluster whose scheduler is SCHEDULER.
# See autograder/README.md. Student code runs in a bubblewrap sandbox; NO_SANDBOX=1 is unsafe.
.PHONY: grade
grade: venv
	@test -n "$(SUBMISSIONS)" || { echo "usage: make grade SUBMISSIONS=path/to/folder-or.zip [ROSTER=students.csv] [WORKERS=N] [SCHEDULER=tcp://host:port]"; exit 2; }
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python autograder/lmgrade/grade.py "$(abspath $(SUBMISSIONS))" \
	  $(if $(ROSTER),--roster "$(abspath $(ROSTER))",) $(if $(WORKERS),--workers $(WORKERS),) \
	  $(if $(SCHEDULER),--scheduler "$(SCHEDULER)",) \
	  $(if $(filter 1 yes true,$(NO_SANDBOX)),--no-sandbox,) $(GRADE_ARGS)
