# kubesleuth — `make demo` shows it working on generated data; `make test` is the one test command.

GO        ?= go
BIN       := bin/kubesleuth
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
DEMO_DIR  ?= demo
BENCH_DIR ?= $(HOME)/.cache/kubesleuth-bench
# kube-apiserver, kube-controller-manager and kube-scheduler v1.37.2 (make apiserver)
KUBESLEUTH_K8S_BIN ?= $(HOME)/.cache/kubesleuth/k8s-v1.37.2
export KUBESLEUTH_K8S_BIN
# victoria-logs v1.52.2 (make victorialogs): the second event store's tests and bench
KUBESLEUTH_VLOGS_BIN ?= $(HOME)/.cache/kubesleuth/victorialogs-v1.52.2
export KUBESLEUTH_VLOGS_BIN

.PHONY: bench-vlogs all build test bench demo lint fuzz clean apiserver test-apiserver record-apiserver victorialogs

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/kubesleuth

## test: vet, then every package's tests (rule fixtures, real etcd, TUI, end-to-end on the binary)
test:
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 25m ./...

## lint: go vet and gofmt
lint:
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt wants to rewrite:"; echo "$$out"; exit 1; fi

## bench: Go benchmarks, then end-to-end figures on two shapes of 1M generated events (default, managed: no RequestReceived, 500 identities, 3 apiservers), the 1M case and 300k-event cardinality ingests, and the 1M case in a 3-process VictoriaLogs cluster (make victorialogs; logs cached in $(BENCH_DIR), keyed by their generate flags)
## bench-vlogs: only the VictoriaLogs figures
bench: build
	$(GO) test -run '^$$' -bench . -benchmem ./...
	BIN=$(BIN) BENCH_DIR=$(BENCH_DIR) bash scripts/bench.sh
	BIN=$(BIN) BENCH_DIR=$(BENCH_DIR) bash scripts/bench-case.sh
	BIN=$(BIN) BENCH_DIR=$(BENCH_DIR) GO=$(GO) bash scripts/bench-tui.sh
	BIN=$(BIN) BENCH_DIR=$(BENCH_DIR) GO=$(GO) bash scripts/bench-vlogs.sh

## demo: generate a sample cluster's audit log (with attacks) and an etcd snapshot; in a terminal, ingest and open kubesleuth investigate
demo: build
	BIN=$(BIN) DEMO_DIR=$(DEMO_DIR) bash scripts/demo.sh

## fuzz: two minutes on each fuzz target (audit lines and wrappers, whole inputs, the case's records, a damaged case, etcd values, the redactor, Sigma files)
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzDecodeValue -fuzztime 2m ./ingest/audit/
	$(GO) test -run '^$$' -fuzz FuzzReader -fuzztime 2m ./ingest/audit/
	$(GO) test -run '^$$' -fuzz FuzzStoreRecords -fuzztime 2m ./index/
	$(GO) test -run '^$$' -fuzz FuzzDamagedCase -fuzztime 2m ./index/
	$(GO) test -run '^$$' -fuzz FuzzDecodeValue -fuzztime 2m ./ingest/etcd/
	$(GO) test -run '^$$' -fuzz FuzzJSON -fuzztime 2m ./analyzer/redact/
	$(GO) test -run '^$$' -fuzz FuzzParse -fuzztime 2m ./analyzer/sigma/

clean:
	rm -rf bin $(DEMO_DIR)

## bench-tui: the TUI's first screen, pivot and memory on make bench's 1M-event case (KUBESLEUTH_BENCH_CASE)
bench-tui: build
	BIN=$(BIN) BENCH_DIR=$(BENCH_DIR) GO=$(GO) bash scripts/bench-tui.sh

## apiserver: build kube-apiserver, kube-controller-manager and kube-scheduler v1.37.2 from the module proxy into $(KUBESLEUTH_K8S_BIN) (about 5 minutes cold; nothing to do when built)
apiserver:
	bash tools/apiserver/build.sh $(KUBESLEUTH_K8S_BIN)

## test-apiserver: the tests against a real kube-apiserver (internal/realcluster), required to run (not skip)
test-apiserver: apiserver
	KUBESLEUTH_APISERVER_REQUIRED=1 $(GO) test -count=1 -timeout 20m ./internal/realcluster/...

## record-apiserver: run the scenarios on real control planes and rewrite testdata/realapiserver (a few minutes)
record-apiserver: apiserver
	$(GO) run ./internal/realcluster/record -out testdata/realapiserver

## victorialogs: build victoria-logs v1.52.2 from the module proxy into $(KUBESLEUTH_VLOGS_BIN) (about 2 minutes cold; nothing to do when built)
victorialogs:
	bash tools/victorialogs/build.sh $(KUBESLEUTH_VLOGS_BIN)

bench-vlogs: build
	BIN=$(BIN) BENCH_DIR=$(BENCH_DIR) GO=$(GO) bash scripts/bench-vlogs.sh
