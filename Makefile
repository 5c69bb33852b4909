# One virtual environment per interpreter, made on first use and reused after.
PYTHON ?= python3
VENV ?= .venv
DJANGO ?= Django>=5.2,<6.2
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_STAMP := $(VENV)/.installed-demo
BENCH_STAMP := $(VENV)/.installed-bench
CI_STAMP := $(VENV)/.installed-ci
DOCS_STAMP := $(VENV)/.installed-docs

.PHONY: test lint typecheck install package demo bench nox docs clean

# The tools come from pyproject's dependency groups (PEP 735), which pip reads since 25.1.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade 'pip>=25.1'
	$(BIN)/python -m pip install --quiet --group test --group lint --group oscar hatchling '$(DJANGO)' requests
	touch $(STAMP)

# The tests import the package as a user's project would: built by the wheel's own
# rules and installed, never from src/. A file the wheel leaves out fails them.
package: $(STAMP)
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation --force-reinstall .

install: package

# The demo needs only the app and django-environ: a newcomer waits for less.
$(DEMO_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade 'pip>=25.1'
	$(BIN)/python -m pip install --quiet --group example hatchling '$(DJANGO)' requests
	touch $(DEMO_STAMP)

$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet --group bench
	touch $(BENCH_STAMP)

# The published numbers (bench/results.json, docs/checkout.png); BENCH_ARGS=--small
# for a smoke run that writes to build/ instead.
bench: $(BENCH_STAMP) package
	$(BIN)/python -m bench $(BENCH_ARGS)

# The matrix runner (noxfile.py) and the package checks: nox, uv, build, twine.
$(CI_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade 'pip>=25.1'
	$(BIN)/python -m pip install --quiet --group ci
	touch $(CI_STAMP)

# Each Python with each Django, against the built wheel: `make nox NOX_ARGS='-s fast'`,
# `make nox NOX_ARGS='-t ci'` (what CI runs of it), `make nox NOX_ARGS=-l` lists them.
nox: $(CI_STAMP)
	$(BIN)/nox $(NOX_ARGS)

$(DOCS_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade 'pip>=25.1'
	$(BIN)/python -m pip install --quiet --group docs
	touch $(DOCS_STAMP)

# The documentation site into site/; a warning (a broken link or anchor) fails it.
# NO_MKDOCS_2_WARNING: Material's banner about its end of life, printed at every build.
docs: $(DOCS_STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

example_project/.env:
	cp example_project/.env.example example_project/.env

demo: $(DEMO_STAMP) example_project/.env
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation --force-reinstall .
	cd example_project && exec $(abspath $(BIN))/python manage.py demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy src tests bench tests_oscar

test: lint typecheck package
	$(BIN)/python -m django --version
	# coverage starts before pytest, so the package imported by our pytest plugin is counted.
	$(BIN)/coverage run -m pytest $(PYTEST_ARGS)
	# django_firstpromoter.contrib.oscar against a real django-oscar shop, its own settings.
	$(BIN)/coverage run --append -m pytest -p no:cacheprovider --ds=tests_oscar.settings tests_oscar
	$(BIN)/coverage report

clean:
	rm -rf $(VENV) .venv-* .nox dist site .pytest_cache .mypy_cache .ruff_cache .coverage
