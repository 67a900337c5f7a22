# Common tasks. Every target is a thin wrapper over a command you can type
# yourself; .ci/run is the source of truth for what CI checks.
.POSIX:
.PHONY: help run serve up down test race cover lint cyclo secrets bench build docker docker-run ci two-commands clean

GO        ?= go
IMAGE     ?= housing-mlops:dev
PORT      ?= 8080
BIN       ?= bin/mlops
# Overrides for `make run`, e.g. make run ARGS="sweep.trials=5 main.steps=01,02"
ARGS      ?=

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' Makefile | awk -F':.*## ' '{printf "  %-13s %s\n", $$1, $$2}'

run: ## run the pipeline (config.yaml, ARGS=overrides)
	$(GO) run ./cmd/mlops run $(ARGS)

serve: ## serve the API and UI on PORT
	PORT=$(PORT) $(GO) run ./cmd/mlops serve

up: ## docker compose: pipeline then API (add --profile team for Postgres + MinIO)
	docker compose up --build

down: ## docker compose down
	docker compose down

test: ## the README's test command
	$(GO) test ./...

race: ## tests with the race detector
	$(GO) test -race -short ./...

cover: ## coverage over every package, total printed
	$(GO) test -coverprofile=cover.out -coverpkg=./... ./...
	$(GO) tool cover -func=cover.out | tail -1

lint: ## gofmt, go vet, staticcheck, actionlint
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	staticcheck ./...
	actionlint

cyclo: ## functions over 15 without a 'cyclomatic:' reason
	scripts/cyclo.sh 15

secrets: ## gitleaks over the git history
	gitleaks git --no-banner --redact .

bench: ## benchmarks (no unit tests), 5 counts for benchstat
	$(GO) test -run '^$$' -bench . -benchmem -count 5 ./... | tee bench.out

build: ## the static binary the Dockerfile builds
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w" -o $(BIN) ./cmd/mlops

docker: ## build the image
	docker build -t $(IMAGE) .

docker-run: docker ## run the API container on PORT
	docker run --rm -p $(PORT):8080 $(IMAGE)

ci: ## everything CI runs
	bash .ci/run

two-commands: ## the README's two commands from a clean copy
	scripts/two-commands.sh

clean:
	rm -rf bin cover.out bench.out
