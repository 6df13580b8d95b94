# The two commands of the README: `make demo` and `make test`. Both create and use the project's own
# virtual environment (.venv, no system site packages), so they work where the system python3 refuses
# installs (PEP 668) and never depend on what happens to be installed system-wide.
PY ?= python3
VENV ?= .venv
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: demo test test-fast lint install clean-venv

$(VPY):
	$(PY) -m venv $(VENV)

# Reinstalled when the dependency declarations change.
$(STAMP): pyproject.toml constraints.txt | $(VPY)
	$(VPY) -m pip install -q --disable-pip-version-check -c constraints.txt -e ".[test]"
	touch $@

install: $(STAMP)

demo: install
	$(VPY) -m styleganex demo

# Everything CI runs: the unit tests, the real-ComfyUI tier and the browser tier.
test: install
	$(VPY) -m pytest -q $(PYTEST_ARGS)

# The development subset: no slow tests, no real ComfyUI, no browser (about 2 minutes on 2 cores).
test-fast: install
	$(VPY) -m pytest -q -m "not slow and not comfyui and not browser" $(PYTEST_ARGS)

# The lint and type checks alone (tests/test_lint.py runs both in every test run).
lint: install
	$(VPY) -m ruff check .
	$(VPY) -m mypy

clean-venv:
	rm -rf $(VENV)
