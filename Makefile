# route-counter: `make dev` runs the API locally, `make test` runs every test. Both create .venv on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | cksum | cut -d' ' -f1)
HOST   ?= 127.0.0.1
PORT   ?= 8080
PYTEST_ARGS ?=
ARGS   ?=

# dynalite (npm) lets the tests check the local API against a DynamoDB-compatible server; optional
# where npm is missing (those tests then skip, except in CI where they must run).
NPM      := $(shell command -v npm 2>/dev/null)
DYNALITE := tests/dynalite/node_modules/.package-lock.json
TEST_DEPS := $(STAMP) $(if $(NPM),$(DYNALITE))

.PHONY: venv dev test bench clean

# Reinstall only when a requirements file changes (pulumi-aws alone takes minutes to install).
$(STAMP): requirements.txt requirements-dev.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check -q -r requirements-dev.txt
	@rm -f $(VENV)/.installed-*
	@touch $@

venv: $(STAMP)

dev: $(STAMP)
	$(BIN)/python -m local --host $(HOST) --port $(PORT) $(ARGS)

$(DYNALITE): tests/dynalite/package.json tests/dynalite/package-lock.json
	cd tests/dynalite && npm ci --no-audit --no-fund --loglevel=error

test: $(TEST_DEPS)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis tests/dynalite/node_modules
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
