# Entry points for developers and CI. Every target installs what it needs first (a quick no-op once done).
# The tests start their own Kafka and Redis on free ports (tests/conftest.py), so `test` needs no stack-up.
.PHONY: install stack-up stack-down test demo bench-pipeline bench-regimes clean

PYTEST_ARGS ?=

install:
	@bash scripts/install.sh

stack-up: install
	@bash scripts/stack.sh up

stack-down:
	@bash scripts/stack.sh down

test: install
	.venv/bin/python -m pytest $(PYTEST_ARGS)

demo: install
	@bash scripts/demo.sh

# Live pipeline throughput as a ratio to a raw consumer on the same topic (needs the local stack: make stack-up).
bench-pipeline: install
	.venv/bin/python scripts/bench_pipeline.py $(BENCH_ARGS)

# Pages per hour on the traffic-regime matrix (issue 7); docs/benchmarks.md. E.g. BENCH_ARGS="--quick --seeds 1"
bench-regimes: install
	.venv/bin/python scripts/regime_matrix.py $(BENCH_ARGS)

clean: stack-down
	rm -rf .run
