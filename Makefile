# Two commands on a fresh machine with Python 3.11: `make demo` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install demo test lint typecheck browser sfcli unit bench soak proto clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/stripe2sf demo $(DEMO_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

# Browser tests drive Debian's chromium (never `playwright install`: it downloads browsers).
browser:
	@test -x /usr/bin/chromium || (apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)

# The official Salesforce CLI (pinned in tools/sf-cli) for the admin-path tests; when npm cannot
# be reached they skip and say so.
SFCLI := tools/sf-cli/node_modules/.bin/sf
sfcli:
	@test -x $(SFCLI) || (cd tools/sf-cli && npm ci --no-audit --no-fund --loglevel=error) || \
		echo "sf CLI not installed (npm unreachable?): its tests will skip"

# Two test processes (this machine has two cores; most tests wait on servers), a test module
# on one process so its sandboxes are started once.
test: lint typecheck browser sfcli
	$(BIN)/pytest -q -n 2 --dist loadfile $(PYTEST_ARGS)

unit: $(STAMP)
	$(BIN)/pytest -q tests/unit

# The fault soak at full size (bench/soak.py --help); `make test` runs a short one.
soak: $(STAMP)
	$(BIN)/python bench/soak.py $(SOAK_ARGS)

# The Pub/Sub API stubs (src/pubsub_api), regenerated from their .proto; committed.
proto: $(STAMP)
	cd src && ../$(BIN)/python -m grpc_tools.protoc -I . --python_out=. --pyi_out=. \
		--grpc_python_out=. pubsub_api/pubsub_api.proto

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
