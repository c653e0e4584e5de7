# Two set-up commands: `make demo` (main job end to end) and `make test` (the test suite).
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-all venv bench clean

$(STAMP): pyproject.toml
	@command -v $(PY) >/dev/null 2>&1 || { echo "need $(PY) (set PY=python3.x, >= 3.11)"; exit 1; }
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# CPU build of torch first (local wheel here), so nothing else pulls a multi-GB CUDA build.
	$(BIN)/python -m pip install -q "torch==2.13.0"
	$(BIN)/python -m pip install -q -e ".[test]"
	touch $(STAMP)

venv: $(STAMP)

## Train on the built-in phantom (or DATA=path), predict, evaluate in mm, write runs/demo/report.html
demo: $(STAMP)
	$(BIN)/cmrseg run configs/demo.yaml $(if $(DATA),--data $(DATA),) --name demo

## Default test suite (fast; long tests are marked `slow`)
test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

test-all: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 -m "slow or not slow"

clean:
	rm -rf runs/demo .cache/cmrseg/phantom
