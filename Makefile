# kfgate — see README.md. `make run` and `make test` are all a newcomer needs.
GO        ?= go
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
CONFIG    ?= configs/kfgate.example.yaml
FUZZTIME  ?= 20s
BENCHTIME ?= 1s

.PHONY: all build run test lint bench fuzz load instructions docker clean screenshots

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/kfgate ./cmd/kfgate

# The gateway on its embedded default (no Redis, no PostgreSQL needed),
# with the WeChat simulator standing in for WeChat's API on 127.0.0.1:9090.
ADMIN := Authorization: Bearer demo-admin-token-change-me
run: build
	@echo "kfgate: callback URLs http://localhost:8080/wechat/wxdemo0000000001 (safe mode)"
	@echo "                      http://localhost:8080/wechat/wxdemo0000000002 (plaintext)"
	@echo "kfgate: WeChat's API is simulated on http://127.0.0.1:9090 (kfgate sim api)."
	@echo "In another terminal — be a WeChat user, and see what kfgate answers and sends back:"
	@echo "    bin/kfgate sim send --config $(CONFIG) --api http://127.0.0.1:9090 --text 你好"
	@echo "The console: http://localhost:8080/ — sign in as demo-admin / demo-admin-pass (the board)"
	@echo "             or demo-agent / demo-agent-pass (the desk). Demo passwords: public, for trying only."
	@echo "Be the demo agent — get its token, come online, see your sessions:"
	@echo "    TOKEN=\$$(curl -s -XPOST -H '$(ADMIN)' localhost:8080/api/v1/agents/demo-agent/token | grep -o 'kfa_[A-Za-z0-9_-]*')"
	@echo "    curl -XPUT -H \"Authorization: Bearer \$$TOKEN\" -d '{\"status\":\"online\"}' localhost:8080/api/v1/agent/status"
	@echo "    curl -H \"Authorization: Bearer \$$TOKEN\" localhost:8080/api/v1/agent/sessions"
	@echo "kfgate: Ctrl-C stops both."
	@KFGATE_LOG_FORMAT=text bin/kfgate sim api --config $(CONFIG) --listen 127.0.0.1:9090 & sim=$$!; \
	trap 'kill $$sim 2>/dev/null' EXIT INT TERM; \
	KFGATE_LOG_FORMAT=text KFGATE_WECHAT_API_BASE=http://127.0.0.1:9090 bin/kfgate serve --demo --config $(CONFIG)

# vet, then every test with the race detector, on the real Redis and
# PostgreSQL of this machine (.ci/run starts them when they are down).
test:
	$(GO) vet ./...
	$(GO) test -race -count=1 ./...

# gofmt, vet, staticcheck, and Redocly's linter on docs/openapi.yaml (from
# the npm registry, pinned in docs/package-lock.json). nginx -t on
# deploy/nginx/kfgate.conf is a test of its own (deploy/nginx).
lint: docs/node_modules/.bin/redocly
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt: files above need formatting"; exit 1; }
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...
	cd docs && REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true node_modules/.bin/redocly lint --config redocly.yaml openapi.yaml

docs/node_modules/.bin/redocly: docs/package.json docs/package-lock.json
	cd docs && npm ci --no-audit --no-fund
	@touch $@

# The console in real Chromium (a conversation, a transfer, the board and
# the statistics), saved as PNGs at 1280×800 and 390×844 in docs/screenshots/.
screenshots:
	KFGATE_SCREENSHOTS=$(CURDIR)/docs/screenshots $(GO) test -count=1 -run '^TestConsoleInBrowser$$' ./cmd/kfgate

bench:
	$(GO) test -run='^$$' -bench=. -benchmem -benchtime=$(BENCHTIME) ./...

# Every fuzz target for FUZZTIME each (go test runs one target at a time).
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for target in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$target"; \
	    $(GO) test -run='^$$' -fuzz="^$$target$$" -fuzztime=$(FUZZTIME) $$pkg; \
	  done; \
	done

# A load run of the real binary on the real Redis at 127.0.0.1:6379 (see README).
load: build
	deploy/load/run.sh

# Instructions Redis spends per inbound script call, under Callgrind: exact,
# whatever the machine's load (needs valgrind; see deploy/load/instructions.sh).
instructions:
	deploy/load/instructions.sh

# The container image, reproducibly: the commit's time stamps the binary and
# the layers, so the same commit builds the same image.
REVISION         ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
docker:
	docker build --build-arg VERSION=$(VERSION) --build-arg REVISION=$(REVISION) \
	  --build-arg SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH) \
	  --build-arg CREATED=$$(date -u -d @$(SOURCE_DATE_EPOCH) +%Y-%m-%dT%H:%M:%SZ) \
	  -t kfgate:$(VERSION) .

clean:
	rm -rf bin
