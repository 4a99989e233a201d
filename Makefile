# Clinicflow: the two commands a newcomer needs are `make run` and `make test`.

CARGO ?= cargo
PYTHON ?= python3
# The AWS emulator and the template linter, pinned, in a venv of the repo.
VENV := .venv
MOTO_VERSION := 5.2.5
CFN_LINT_VERSION := 1.58.0
# The Lambda build: cargo-lambda cross-compiles to arm64 with zig, both from PyPI.
CARGO_LAMBDA_VERSION := 1.9.2
ZIG_VERSION := 0.17.1
# The deploy tool, in a venv of its own (its pins differ from moto's).
SAM_VENV := .venv-sam
SAM_CLI_VERSION := 1.170.0
FUNCTIONS := intake api webhooks assign send blast sweep
# The tenants' configuration packed into every function (as clinicflow.toml).
CONFIG ?= config/demo.toml

.PHONY: run test build deploy bench bench-intake bench-reminders bench-blast bench-automations bench-lambda bench-scale lint fmt clean-data help

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

$(VENV)/.lambda-tools: $(VENV)/.installed
	$(VENV)/bin/pip install --quiet --disable-pip-version-check "cargo-lambda==$(CARGO_LAMBDA_VERSION)" "ziglang==$(ZIG_VERSION)"
	touch $@

## build: every function as an arm64 bootstrap.zip under target/lambda/<function>/, with CONFIG inside
build: $(VENV)/.lambda-tools
	rustup target add aarch64-unknown-linux-gnu
	mkdir -p target/lambda-package
	cp $(CONFIG) target/lambda-package/clinicflow.toml
	cd target/lambda-package && PATH="$(CURDIR)/$(VENV)/bin:$$PATH" cargo-lambda lambda build \
		--manifest-path ../../Cargo.toml --locked --profile lambda-release --arm64 \
		--output-format zip --include clinicflow.toml $(foreach f,$(FUNCTIONS),-p clinicflow-$(f))
	@ls -l $(foreach f,$(FUNCTIONS),target/lambda/$(f)/bootstrap.zip)

## deploy: make build, then the SAM template into your AWS account (asks for stack name, region, parameters)
deploy: build $(SAM_VENV)/.installed
	cd infra && ../$(SAM_VENV)/bin/sam deploy --guided --template-file template.yaml --capabilities CAPABILITY_IAM

$(SAM_VENV)/.installed: Makefile
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet --disable-pip-version-check "aws-sam-cli==$(SAM_CLI_VERSION)"
	touch $@

## bench: the benchmarks below
bench: bench-intake bench-reminders bench-blast bench-automations bench-lambda bench-scale

## bench-intake: intake throughput and latency against a one-row baseline, and time to greeting
bench-intake:
	$(CARGO) bench --bench intake --locked

## bench-reminders: 10,000 appointments whose reminders fall due at once: due to sent, to the sandbox and through a rate-limited sender
bench-reminders:
	$(CARGO) bench --bench reminders --locked

## bench-blast: a blast to 100,000 patients through a WhatsApp sender capped at 80/s and at 1,000/s: rate reached, 130429 answers, duplicates
bench-blast:
	$(CARGO) bench --bench blast --locked

## bench-automations: 50 rules over 100,000 leads and appointments: engine events per second against a no-active-rule baseline, due to action p50/p99
bench-automations:
	$(CARGO) bench --bench automations --locked

## bench-lambda: each function's init time, peak memory over 250 events and zip size, against a hello-world baseline
bench-lambda: $(VENV)/.installed
	$(CARGO) build --locked --profile lambda-release $(foreach f,$(FUNCTIONS),-p clinicflow-$(f))
	$(CARGO) build --locked --profile lambda-release -p clinicflow-lambda --example hello
	$(CARGO) bench --locked -p clinicflow-lambda --bench runtime

## bench-scale: a campaign peak's read and write units per second on every DynamoDB partition key, replayed against the AWS emulator (docs/scale.md)
bench-scale: $(VENV)/.installed
	SCALE_EVENTS=$${SCALE_EVENTS:-25} $(CARGO) test --locked -p clinicflow-lambda --test aws scale_units_per_partition -- --ignored --nocapture

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
