# emberwatch — every target sets up what it needs first (venv, Python deps, Kafka jars, Java/Maven).
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
JARS_STAMP := $(VENV)/.kafka-jars

.DEFAULT_GOAL := help
.PHONY: help setup system-deps demo test test-unit test-integration lint model evaluate bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

system-deps: ## install Java, Maven and openssl (TLS tests) from Debian if they are missing
	@if ! command -v java >/dev/null || ! command -v mvn >/dev/null || ! command -v openssl >/dev/null; then \
	  echo "installing Java 17, Maven and openssl (Debian packages)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless maven openssl; \
	fi

$(STAMP): pyproject.toml constraints.txt
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	@touch $@

$(JARS_STAMP): deploy/kafka/pom.xml $(STAMP)
	$(BIN)/emberwatch broker fetch
	@touch $@

setup: system-deps $(STAMP) $(JARS_STAMP) ## venv, Python deps, Kafka jars (idempotent)

demo: setup ## the quick start: embedded broker, worker, sample crisis, summary
	$(BIN)/emberwatch demo

test: setup ## the whole suite: unit, integration (real Kafka) and end-to-end
	$(BIN)/pytest -q tests

test-unit: setup ## unit tests only (no broker)
	$(BIN)/pytest -q tests/unit

lint: setup ## ruff (lint and format check) and mypy
	$(BIN)/ruff check pipeline agents models tests benchmarks
	$(BIN)/ruff format --check pipeline agents models tests benchmarks
	$(BIN)/mypy

model: setup ## retrain the classifier artifact from ../shared/data
	$(BIN)/emberwatch train

evaluate: setup ## print the classifier's metrics
	$(BIN)/emberwatch evaluate

bench: setup ## run the benchmarks (they print their figures)
	for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean: ## remove the venv and local state (broker data, worker tables)
	-$(BIN)/emberwatch broker stop
	rm -rf $(VENV) .state
