# modelops: `make help` lists the targets. `make test` is the one test command (CI runs it).
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CRD := crds/modelops.dev_modelservices.yaml

.DEFAULT_GOAL := help

# The tests run the gateway as the image ships it, compiled by mypyc (setup.py): the tree that
# hack/compile-gateway.sh builds (cached; minutes when the gateway's sources changed) goes first
# on PYTHONPATH, in the test process and in every gateway process it starts.
COMPILED_PYTEST = tree="$$(hack/compile-gateway.sh)" && \
	MODELOPS_COMPILED_TREE="$$tree" PYTHONPATH="$$tree" $(BIN)/pytest

help: ## Show the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

venv: $(BIN)/.installed ## Create .venv with the package and its dev tools

binaries: ## Build the control-plane binaries once into ~/.cache/modelops (minutes when cold)
	hack/build-binaries.sh

images: ## Build the real node's images with buildah, no registry (pause, modelops, demo model), cached by input hash; imported into the real node when one runs
	hack/install-node-deps.sh
	hack/node-images.sh

cluster-up: ## Start the local control plane (etcd, apiserver, controllers, scheduler, KWOK) and a real node (REAL_NODES=0 skips it; needs root)
	hack/cluster-up.sh

cluster-down: ## Stop the local control plane and the real node, and remove their data, netns, links and routes
	hack/cluster-down.sh

cluster-status: ## Show the local control plane's processes, version and nodes
	hack/cluster-status.sh

crd: venv ## Regenerate crds/ from the pydantic models (and the chart's copy)
	$(BIN)/modelops crd > $(CRD)
	$(MAKE) chart-crds

CHART := charts/modelops
chart-crds: ## Copy the CRD (crds/) and the alert rules into the Helm chart
	mkdir -p $(CHART)/crds $(CHART)/files
	cp $(CRD) $(CHART)/crds/
	cp manifests/monitoring/prometheusrule.yaml $(CHART)/files/

lint: venv ## ruff, mypy --strict, import-linter contracts
	$(BIN)/ruff check operator tests bench examples
	$(BIN)/ruff format --check operator tests bench examples
	$(BIN)/mypy
	$(BIN)/mypy --strict --python-version 3.11 examples/demo-model/demomodel
	$(BIN)/lint-imports

security: venv ## bandit on the code (operator/, hack/), pip-audit on the installed dependencies
	$(BIN)/bandit -q -r operator hack
	$(BIN)/python hack/audit-dependencies.py

test-unit: venv ## Fast tests, no cluster (the gateway compiled first: minutes when its sources changed)
	$(COMPILED_PYTEST) tests/unit

test-deps: ## System packages the tests use (redis-server, prometheus/promtool, lua5.4), installed when missing
	hack/install-test-deps.sh

bench-deps: ## System packages the benchmarks use (nginx, wrk, redis-server, valgrind), installed when missing
	hack/install-bench-deps.sh

$(BIN)/.bench-installed: $(BIN)/.installed
	$(BIN)/pip install -q -e '.[dev,bench]'
	touch $@

bench-venv: $(BIN)/.bench-installed ## The benchmarks' Python extras (matplotlib, for the plots) in .venv

bench-reconcile: bench-venv binaries ## (no real node: REAL_NODES=0) N ModelServices at once vs a plain-loop floor, N=100,1000,5000 (BENCH_ARGS=--quick: 100,1000; see bench/reconcile.py)
	REAL_NODES=0 PYTHONPATH=. $(BIN)/python bench/reconcile.py $(BENCH_ARGS)

bench-real-crashloop: bench-venv binaries ## A canary's real CrashLoopBackOff on the real node -> 100% on stable, vs the same on KWOK (BENCH_ARGS=--quick: 2 runs)
	PYTHONPATH=. $(BIN)/python bench/real_crashloop.py $(BENCH_ARGS)

bench-gateway: venv bench-deps ## Gateway overhead vs direct and nginx, the gateway compiled as the image ships it (~5 min; BENCH_ARGS=--quick ~1 min)
	tree="$$(hack/compile-gateway.sh)" && PYTHONPATH="$$tree:." $(BIN)/python bench/gateway.py $(BENCH_ARGS)

bench-gateway-instructions: venv bench-deps ## Instructions per request (callgrind) through the gateway's targets and nginx: steal-proof ratios for issues 16 and 19 (~3 min)
	tree="$$(hack/compile-gateway.sh)" && PYTHONPATH="$$tree:." $(BIN)/python bench/gateway_instructions.py $(BENCH_ARGS)

bench-gateway-paired: venv bench-deps ## Added p99 of keys, budgets and forwarding against the same gateway without them, and of the gateway and nginx against no proxy, in alternating rounds: the p99 goals of issues 15, 16 and 19 on a VM with steal (~10 min; BENCH_ARGS="--rounds 4"; "--redis-core proxy": Redis off the load core, a labelled variant)
	tree="$$(hack/compile-gateway.sh)" && PYTHONPATH="$$tree:." $(BIN)/python bench/gateway_paired.py $(BENCH_ARGS)

bench-gateway-cpu-paired: venv bench-deps ## The gateway's CPU per request against nginx's, their closed loops alternating in rounds: issue 19's CPU goal on a VM with steal (~3 min; BENCH_ARGS="--rounds 4"; "--redis-core proxy": Redis off the load core, a labelled variant)
	tree="$$(hack/compile-gateway.sh)" && PYTHONPATH="$$tree:." $(BIN)/python bench/gateway_cpu_paired.py $(BENCH_ARGS)

bench-redis-script: venv bench-deps ## Redis' own time per batch of the rate-limit script, today's against the one before the counters' summary, on fresh and full windows (~1 min; BENCH_ARGS="--rounds 3")
	tree="$$(hack/compile-gateway.sh)" && PYTHONPATH="$$tree:." $(BIN)/python bench/redis_script.py $(BENCH_ARGS)

bench-gateway-streaming: venv ## 1,000 SSE streams (200 chunks at 20/s) through one gateway core vs direct: TTFT, gaps, KB per stream (~1 min; BENCH_ARGS="--streams 200" is lighter)
	tree="$$(hack/compile-gateway.sh)" && PYTHONPATH="$$tree:." $(BIN)/python bench/gateway.py --only gateway-streaming $(BENCH_ARGS)

bench-artifacts: venv bench-deps ## Model download: modelops fetch of 1 GiB over HTTPS vs curl (the floor), warm vs cold cache (~3 min; BENCH_ARGS="--runs 1 --size-mib 256" is quicker)
	PYTHONPATH=. $(BIN)/python bench/artifacts.py $(BENCH_ARGS)

bench-replica-start: venv binaries bench-deps ## (real node) A replica's start-up with a cold model cache vs a warm one vs no model source, 1 GiB (BENCH_ARGS="--size-mib 256" is quicker)
	PYTHONPATH=. $(BIN)/python bench/replica_start.py $(BENCH_ARGS)

bench-baseline: venv test-deps ## False positives of the baseline comparison: 20 healthy canaries (real gateways, demo models, Prometheus; ~4 min)
	PYTHONPATH=. $(BIN)/python bench/baseline.py $(BENCH_ARGS)

argo-rollouts: ## Build Argo Rollouts' controller and fetch its CRDs (the rollback bench's baseline), cached
	hack/build-argo-rollouts.sh

bench-rollback: bench-venv binaries test-deps argo-rollouts ## Rollback speed vs Argo Rollouts (~12 min; BENCH_ARGS=--quick ~5 min)
	PYTHONPATH=. $(BIN)/python bench/rollback.py $(BENCH_ARGS)

bench: ## All benchmarks: reconcile scale, rollback vs Argo Rollouts, gateway (BENCH_ARGS=--quick for the short versions)
	$(MAKE) bench-reconcile bench-rollback bench-gateway BENCH_ARGS='$(BENCH_ARGS)'

test: venv binaries test-deps images lint security ## Everything: lint, security checks, unit tests and cluster tests on the local control plane (fault tests included)
	$(COMPILED_PYTEST)

test-e2e: venv binaries test-deps ## Only the end-to-end tests on the real node: the operator installed from the chart, real pods, requests through ClusterIPs (~4 min)
	$(BIN)/pytest tests/e2e

test-faults: venv binaries test-deps ## Only the fault tests: API server/etcd stopped, operator SIGKILLed, HA takeover, 500 updates (~18 min on a busy 2-core box)
	MODELOPS_FAULT_SERVICES=500 $(BIN)/pytest tests/faults tests/cluster/test_leader_election.py tests/cluster/test_rollout_resilience.py

demo: venv binaries ## Local control plane + operator + a sample ModelService through a rollout
	hack/demo.sh

kind-up: ## (needs Docker) a kind cluster for the same tests: KUBECONFIG=$$(pwd)/.cluster/kind-kubeconfig
	hack/kind-up.sh

kind-install: ## (needs Docker) build the image, load it into the kind cluster, helm install the chart
	hack/kind-install.sh

kind-down: ## (needs Docker) delete the kind cluster
	kind delete cluster --name modelops

.PHONY: help venv binaries images chart-crds test-deps bench bench-deps bench-venv bench-reconcile bench-gateway bench-gateway-instructions bench-gateway-paired bench-gateway-cpu-paired bench-redis-script bench-gateway-streaming bench-artifacts bench-replica-start bench-baseline bench-real-crashloop argo-rollouts bench-rollback cluster-up cluster-down cluster-status crd lint security test-unit test test-e2e test-faults demo kind-up kind-install kind-down
