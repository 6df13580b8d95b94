# The two commands of the README.
PY ?= python3

.PHONY: demo test install

install:
	$(PY) -m pip install -q -e ".[test]"

demo: install
	$(PY) -m styleganex demo

test: install
	$(PY) -m pytest -q
