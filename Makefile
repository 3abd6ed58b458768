# The one command surface. Every target sets up what it needs on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

NODE_STAMP := node_modules/.installed
CDK := JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20 npx --no-install cdk

.PHONY: setup test lint demo bench synth deploy destroy clean

setup: $(STAMP) $(NODE_STAMP)

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

lint: setup
	$(BIN)/ruff check lambdas tests bench infra app.py
	$(BIN)/ruff format --check lambdas tests bench infra app.py
	$(BIN)/mypy

test: lint synth
	$(BIN)/pytest -n 2 --dist worksteal  # two workers: while one runs the 10,000-change burst, the other takes the rest

demo: setup
	$(BIN)/sgwatch demo

bench: setup
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-bench.txt
	$(BIN)/python -m bench.handler_cold_start
	$(BIN)/python -m bench.classify_throughput
	$(BIN)/python -m bench.batch_round_trips
	$(BIN)/python -m bench.history_requests
	$(BIN)/python -m bench.scan_inventory --groups 1000 --runs 3

synth: setup
	$(CDK) synth --quiet
	$(BIN)/cfn-lint

# Deploy to the account and region of your AWS credentials. Context: make deploy ARGS="-c alertEmail=you@example.com"
deploy: setup
	$(CDK) deploy --all $(ARGS)

destroy: setup
	$(CDK) destroy --all $(ARGS)

clean:
	rm -rf $(VENV) .venv-lambda node_modules cdk.out .pytest_cache .mypy_cache .ruff_cache .hypothesis
