.PHONY: install test test-pg lint bench

install:
	python3 -m venv .venv && .venv/bin/pip install -e '.[test]'

test:
	.venv/bin/python -m pytest

test-pg:
	LEADFLOW_TEST_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test .venv/bin/python -m pytest

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/mypy

bench:
	.venv/bin/python -m bench ingest --json && .venv/bin/python -m bench import --json
