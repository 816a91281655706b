# route-counter: `make dev` runs the API locally, `make test` runs every test. Both create .venv on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt requirements-lambda.txt | cksum | cut -d' ' -f1)
HOST   ?= 127.0.0.1
PORT   ?= 8080
PYTEST_ARGS ?=
# Test files run in parallel, one worker per core (pytest-xdist); a file stays on one worker, so its
# module fixtures (an engine stack, a moto server) are shared as before. Files are handed out in the order
# tests/conftest.py sorts them (the longest first), not by their number of tests. JOBS=0: one process.
JOBS ?= auto
XDIST := -n $(JOBS) --dist loadfile --no-loadscope-reorder
ARGS   ?=

# The Lambda runtime brings its own botocore, older than ours: the handler and fault tests run again in a
# small venv pinned to the oldest botocore a python3.13 runtime may carry (requirements-runtime-botocore.txt).
RT_VENV  := .venv-runtime-botocore
RT_STAMP := $(RT_VENV)/.installed-$(shell cat requirements-runtime-botocore.txt requirements-lambda.txt | cksum | cut -d' ' -f1)
RT_TESTS := tests/test_counter.py tests/test_faults.py tests/test_listing.py tests/test_lean.py tests/test_sigv4.py

# The program and the components under Pulumi's mocks again, on the oldest Pulumi SDKs pyproject.toml allows
# (requirements-oldest-pulumi.txt): the lower ends of its ranges are tested, not guessed.
OLD_VENV  := .venv-oldest-pulumi
OLD_STAMP := $(OLD_VENV)/.installed-$(shell cat requirements-oldest-pulumi.txt requirements-lambda.txt | cksum | cut -d' ' -f1)
OLD_TESTS := tests/test_components.py tests/test_infra.py tests/test_domain.py tests/test_meter_stacks.py \
             tests/test_stack_config.py tests/test_operations.py

# dynalite (npm) lets the tests check the local API against a DynamoDB-compatible server; optional
# where npm is missing (those tests then skip, except in CI where they must run).
NPM      := $(shell command -v npm 2>/dev/null)
DYNALITE := tests/dynalite/node_modules/.package-lock.json
TEST_DEPS := $(STAMP) $(RT_STAMP) $(OLD_STAMP) $(if $(NPM),$(DYNALITE))

.PHONY: venv dev test bench clean pulumi-cli template

# Reinstall only when a requirements file changes (pulumi-aws alone takes minutes to install).
$(STAMP): requirements.txt requirements-dev.txt requirements-lambda.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check -q -r requirements-dev.txt
	@rm -f $(VENV)/.installed-*
	@touch $@

venv: $(STAMP)

$(RT_STAMP): requirements-runtime-botocore.txt requirements-lambda.txt
	@test -x $(RT_VENV)/bin/python || $(PYTHON) -m venv $(RT_VENV)
	$(RT_VENV)/bin/python -m pip install --disable-pip-version-check -q -r requirements-runtime-botocore.txt
	@rm -f $(RT_VENV)/.installed-*
	@touch $@

$(OLD_STAMP): requirements-oldest-pulumi.txt requirements-lambda.txt
	@test -x $(OLD_VENV)/bin/python || $(PYTHON) -m venv $(OLD_VENV)
	$(OLD_VENV)/bin/python -m pip install --disable-pip-version-check -q -r requirements-oldest-pulumi.txt
	@rm -f $(OLD_VENV)/.installed-*
	@touch $@

dev: $(STAMP)
	$(BIN)/python -m local --host $(HOST) --port $(PORT) $(ARGS)

$(DYNALITE): tests/dynalite/package.json tests/dynalite/package-lock.json
	cd tests/dynalite && npm ci --no-audit --no-fund --loglevel=error

# The two other venvs' runs go on beside the main one (each in one process: together they fill the cores
# the main run leaves idle) and print when it is done; any of the three failing fails the target.
test: $(TEST_DEPS)
	@out="$$(mktemp -d)"; trap 'kill $$rt $$old 2>/dev/null; rm -rf "$$out"' EXIT; \
	$(RT_VENV)/bin/python -m pytest -p no:cacheprovider -p no:xdist $(RT_TESTS) >"$$out/rt" 2>&1 & rt=$$!; \
	$(OLD_VENV)/bin/python -m pytest -p no:cacheprovider -p no:xdist $(OLD_TESTS) >"$$out/old" 2>&1 & old=$$!; \
	$(BIN)/python -m pytest $(XDIST) $(PYTEST_ARGS); main=$$?; \
	wait $$rt; rt_status=$$?; wait $$old; old_status=$$?; \
	echo "== again on the Lambda runtime's oldest botocore: $$($(RT_VENV)/bin/python -c 'import botocore; print(botocore.__version__)')"; \
	cat "$$out/rt"; \
	echo "== again on the oldest Pulumi SDKs supported: $$($(OLD_VENV)/bin/python -c 'from importlib.metadata import version as v; print(*(p + " " + v(p) for p in ("pulumi", "pulumi-aws", "pulumi-random")), sep=", ")')"; \
	cat "$$out/old"; \
	test $$main -eq 0 && test $$rt_status -eq 0 && test $$old_status -eq 0

# The real Pulumi CLI for the engine tests (pytest -m engine): `pulumi` on PATH, else built once from the Go
# module proxy into ~/.cache/route-counter (about 6 minutes and 3.4 GB of Go caches cold, seconds after).
# The last line printed is its path. Without it the engine tests skip, except in CI (.ci/run builds it).
pulumi-cli:
	@tests/engine/build-cli

# A `pulumi new` template of the program alone (tools/template.py): `pulumi new dist/template --dir ../my-counter`.
TEMPLATE_DIR ?= dist/template
template:
	@$(PYTHON) tools/template.py $(TEMPLATE_DIR)

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) $(RT_VENV) $(OLD_VENV) .pytest_cache .hypothesis tests/dynalite/node_modules
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
