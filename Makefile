# Two commands for a fresh machine: `make demo` and `make test` (see README.md).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export PIP_CACHE_DIR ?= $(CURDIR)/.cache/pip
export PIP_DISABLE_PIP_VERSION_CHECK = 1

.PHONY: demo test lint typecheck unit bench clean agents web-vendor prereqs

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --editable .
	touch $@

# What pip cannot install (Chromium, node/npm, PostgreSQL, Redis): stop at once, naming the command to run.
prereqs:
	@tools/prereqs.sh

$(VENV)/.installed-dev: pyproject.toml tools/agents/.installed | prereqs $(BIN)/python
	$(BIN)/python -m pip install --quiet --editable '.[dev]'
	touch $@ $(VENV)/.installed

# The agent CLIs the integration tests run (pinned in tools/agents/package-lock.json), cached in .cache/npm.
# Claude Code's postinstall places its native binary; if npm skipped it, install.cjs does it.
agents: tools/agents/.installed

tools/agents/.installed: tools/agents/package.json tools/agents/package-lock.json | prereqs
	npm_config_cache=$(CURDIR)/.cache/npm npm ci --prefix tools/agents --no-audit --no-fund --loglevel=error
	if [ $$(wc -c < tools/agents/node_modules/@anthropic-ai/claude-code/bin/claude.exe) -lt 1000000 ]; then \
		cd tools/agents/node_modules/@anthropic-ai/claude-code && node install.cjs; fi
	tools/agents/node_modules/.bin/claude --version && tools/agents/node_modules/.bin/codex --version \
		&& tools/agents/node_modules/.bin/gemini --version
	touch $@

demo: $(VENV)/.installed
	$(BIN)/quarterdeck demo
	@echo "(put .venv/bin on your PATH to type just \`quarterdeck\`: export PATH=\"$(CURDIR)/$(BIN):\$$PATH\")"

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy

# Most tests wait on real processes (git, agent CLIs, servers), not the CPU: three at once take ~7 min on 2 cores.
PYTEST_WORKERS ?= 3

test: prereqs lint typecheck
	$(BIN)/pytest -n $(PYTEST_WORKERS)

unit: $(VENV)/.installed-dev
	$(BIN)/pytest tests/unit

bench: $(VENV)/.installed-dev
	$(BIN)/python bench/engine.py

clean:
	rm -rf $(VENV) .quarterdeck .pytest_cache .mypy_cache .ruff_cache

# Refresh the dashboard's vendored front-end files (pinned in tools/web/package-lock.json) into src/quarterdeck/web/static/vendor/.
web-vendor:
	tools/web/vendor.sh
