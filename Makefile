# `make test` is the test command: README and CI run exactly this.
.PHONY: test bench fuzz

test:
	@scripts/test.sh

# Benchmarks are not part of `make test`; BENCHMARKS.md gives the commands
# behind each figure. This target runs them all once.
bench:
	@scripts/with-postgres.sh go test -run '^$$' -bench . -benchmem ./...

# A short fuzz campaign over every fuzz target (FUZZTIME each).
FUZZTIME ?= 30s
fuzz:
	@scripts/fuzz.sh $(FUZZTIME)
