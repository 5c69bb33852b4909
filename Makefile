# One virtual environment per interpreter, made on first use and reused after.
PYTHON ?= python3
VENV ?= .venv
DJANGO ?= Django>=5.2,<6.2
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test lint typecheck install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]' '$(DJANGO)'
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy django_firstpromoter tests

test: lint typecheck
	$(BIN)/python -m django --version
	# coverage starts before pytest, so the package imported by our pytest plugin is counted.
	$(BIN)/coverage run -m pytest $(PYTEST_ARGS)
	$(BIN)/coverage report

clean:
	rm -rf $(VENV) .venv-* .pytest_cache .mypy_cache .ruff_cache .coverage
