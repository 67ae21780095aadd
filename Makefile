# ringloop — every target works from a fresh clone after `npm ci`.
.PHONY: build test bench bench-quick serve clean

build:
	npx tsc -p tsconfig.json

test:
	npm test

# Full benchmark suite (see benchmarks/README.md); writes benchmarks/results/.
bench: build
	node dist/benchmarks/codec.bench.js
	node dist/benchmarks/stream-decode.js
	node dist/benchmarks/e2e-echo.js
	node dist/benchmarks/e2e-echo.js --servers ringloop,ringloop-tcp --rounds 3 --warmup 1 --duration 3
	node dist/benchmarks/idle-rss.js

# Shorter rounds for development; numbers are indicative only.
bench-quick: build
	node dist/benchmarks/codec.bench.js --quick
	node dist/benchmarks/stream-decode.js --quick
	node dist/benchmarks/e2e-echo.js --quick
	node dist/benchmarks/idle-rss.js --quick

serve: build
	node bin/ringloop.js serve

clean:
	rm -rf dist
