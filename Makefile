# Clinicflow: the two commands a newcomer needs are `make run` and `make test`.

CARGO ?= cargo
PYTHON ?= python3
# The AWS emulator and the template linter, pinned, in a venv of the repo.
VENV := .venv
MOTO_VERSION := 5.2.5
CFN_LINT_VERSION := 1.58.0

.PHONY: run test bench lint fmt clean-data help

## run: start the local server with the embedded store and the demo clinic (config/demo.toml)
run:
	$(CARGO) run --release --locked

## test: everything CI checks: formatting, lints, the WebAssembly build of the core, the template, all tests (the AWS adapters against moto)
test: $(VENV)/.installed
	rustup target add wasm32-wasip1
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings
	$(CARGO) build -p clinicflow-core --target wasm32-wasip1 --locked
	$(VENV)/bin/cfn-lint infra/template.yaml
	$(CARGO) test --workspace --locked

$(VENV)/.installed: Makefile
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check "moto[server]==$(MOTO_VERSION)" "cfn-lint==$(CFN_LINT_VERSION)"
	touch $@

## bench: intake throughput and latency against a one-row baseline, and time to greeting
bench:
	$(CARGO) bench --bench intake --locked

## lint: clippy as CI runs it
lint:
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

## fmt: format the workspace
fmt:
	$(CARGO) fmt --all

## clean-data: forget the local server's data (the demo's leads and messages)
clean-data:
	rm -rf .clinicflow

help:
	@grep -E '^## ' Makefile | sed 's/^## /  make /'
