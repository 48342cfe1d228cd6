# The README's commands. Everything installs into .venv; torch comes from the pinned CPU wheel.
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install test lint model serve clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

## Run the whole test suite (builds the default model's ONNX files on first use).
test: install
	$(PY) -m pytest

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

## Serve the API on the committed model (HOST and PORT override 127.0.0.1:8000).
serve: install
	$(VENV)/bin/feedback-classifier serve --host $(HOST) --port $(PORT)

## Rebuild the full model and the int8 ONNX file from the committed artifact.
model: install
	$(VENV)/bin/feedback-classifier export

clean:
	rm -rf $(VENV) model/default/build .pytest_cache .mypy_cache .ruff_cache reports
