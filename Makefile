# ringloop — every target works from a fresh clone after `npm ci`.
.PHONY: build test bench bench-quick serve clean

build:
	npx tsc -p tsconfig.json

test:
	npm test

# Full benchmark suite (see benchmarks/README.md); writes benchmarks/results/
# (JSON per suite, then summary.svg + summary.md). Under 10 minutes on 2 cores.
bench: build
	node dist/benchmarks/codec.bench.js
	node dist/benchmarks/dispatch.bench.js
	node dist/benchmarks/queue.bench.js
	node dist/benchmarks/stream-decode.js
	node dist/benchmarks/pool.bench.js
	node dist/benchmarks/e2e-echo.js
	node dist/benchmarks/latency.js
	node dist/benchmarks/idle-rss.js
	node dist/benchmarks/reactors.js
	node dist/benchmarks/fanout.js --nats --reactors
	node dist/benchmarks/summary.js

# Shorter rounds for development (-quick result files, summary-quick.svg); numbers are indicative only.
bench-quick: build
	node dist/benchmarks/codec.bench.js --quick
	node dist/benchmarks/dispatch.bench.js --quick
	node dist/benchmarks/queue.bench.js --quick
	node dist/benchmarks/stream-decode.js --quick
	node dist/benchmarks/pool.bench.js --quick
	node dist/benchmarks/e2e-echo.js --quick
	node dist/benchmarks/latency.js --quick
	node dist/benchmarks/idle-rss.js --quick
	node dist/benchmarks/reactors.js --quick
	node dist/benchmarks/fanout.js --quick --nats --reactors
	node dist/benchmarks/summary.js --quick

serve: build
	node bin/ringloop.js serve

clean:
	rm -rf dist
