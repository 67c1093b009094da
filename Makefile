# Entry points for developers and CI. Every target installs what it needs first (a quick no-op once done).
# The tests start their own Kafka and Redis on free ports (tests/conftest.py), so `test` needs no stack-up.
.PHONY: install stack-up stack-down test demo bench bench-pipeline bench-regimes clean

PYTEST_ARGS ?=
# two pytest-xdist workers: the tests needing Kafka/Redis run in order on one, the others on both (tests/conftest.py)
PYTEST_WORKERS ?= 2

install:
	@bash scripts/install.sh

stack-up: install
	@bash scripts/stack.sh up

stack-down:
	@bash scripts/stack.sh down

test: install
	.venv/bin/python -m pytest -n $(PYTEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

demo: install
	@bash scripts/demo.sh

# Speed through the real broker (issue 12; brings the local stack up and stops what it started): raw consumer vs
# worker, latency at half load, escalation, memory per series, 1 vs 2 workers. docs/benchmarks.md. E.g.
# BENCH_ARGS="--json bench.json" or BENCH_ARGS="--only batched --events 600000"
bench: install
	.venv/bin/python scripts/bench.py $(BENCH_ARGS)

bench-pipeline: bench  # its old name

# Pages per hour on the traffic-regime matrix (issue 7); docs/benchmarks.md. E.g. BENCH_ARGS="--quick --seeds 1"
bench-regimes: install
	.venv/bin/python scripts/regime_matrix.py $(BENCH_ARGS)

clean: stack-down
	rm -rf .run
