# Backendify: common tasks. Run `make` for the list.

.DEFAULT_GOAL := help
.PHONY: help run test check-deploy build fmt lint clean-data bench-schema bench bench-scale

help:
	@echo "Backendify make targets:"
	@echo "  make run         build everything, start Postgres, control plane, 2 workers, router (Ctrl-C stops all)"
	@echo "  make test        run every test (tests start their own Postgres)"
	@echo "  make check-deploy  check deploy/ offline: Dockerfiles, compose, Kubernetes overlays (schemas)"
	@echo "  make build       cargo build --workspace (debug)"
	@echo "  make fmt         cargo fmt --all"
	@echo "  make lint        cargo clippy --workspace --all-targets"
	@echo "  make clean-data  delete .data (local Postgres cluster, logs); stop make run first"
	@echo "  make bench-schema  schema scale benchmark: 300 collections x 20 fields, add-field-to-ack time"
	@echo "  make bench-scale   10,000 projects x 5 collections on two workers: memory per idle project,"
	@echo "                   config push p50/p99; SCALE_ARGS=\"--projects 1000\" for a shorter run"
	@echo "  make bench       data-API workload (get, list, create, patch) vs pgbench on the same SQL;"
	@echo "                   BENCH_ARGS=\"--quick\" for a short run, \"--write-docs\" updates docs/benchmarks.md"

run:
	scripts/run-local.sh

test:
	scripts/test.sh

check-deploy:
	scripts/check-deploy.sh

build:
	cargo build --workspace

fmt:
	cargo fmt --all

lint:
	cargo clippy --workspace --all-targets

clean-data:
	@pid=$$(head -n 1 .data/pg/postmaster.pid 2>/dev/null || true); \
	if [ -n "$$pid" ] && kill -0 "$$pid" 2>/dev/null; then \
		echo "[backendify] Postgres in .data/pg is still running (pid $$pid); stop make run first"; exit 1; \
	fi
	rm -rf .data
	@echo "[backendify] removed .data (local Postgres cluster, logs, jwt secret, cluster token)"

bench-schema:
	scripts/deps.sh >/dev/null && cargo run --release -p e2e --bin schema_bench

bench-scale:
	scripts/deps.sh >/dev/null && cargo run --release -p e2e --bin scale_bench -- $(SCALE_ARGS)

# The release binaries run as separate processes, so they are built first.
bench:
	scripts/deps.sh >/dev/null && cargo build --release --workspace --bins \
		&& cargo run --release -p e2e --bin bench -- $(BENCH_ARGS)
