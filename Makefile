.DEFAULT_GOAL := help

help: ## Show this help
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

main: ## Set up, build in release mode and run the quickstart
	bash scripts/main.sh

test: ## Run the whole test suite (lint, cargo test, pytest)
	bash scripts/test.sh

bench: ## Benchmark against scikit-learn and scikit-learn-intelex
	bash scripts/bench.sh

.PHONY: help main test bench
