# BRAIN: `make demo` and `make test` are the quick start; both install first.
SHELL := /bin/bash
UV_VERSION := 0.13.9
UV := $(shell command -v uv >/dev/null 2>&1 && echo uv || echo python3 -m uv)
RUN := $(UV) run --frozen --no-sync
PYTEST_ARGS ?=

.PHONY: install system-deps demo collector test test-fast bench lint audit clean help

help:
	@echo "make demo   - install, then run BRAIN's main job end to end on embedded defaults"
	@echo "make test   - install, then run the whole test suite"
	@echo "make bench  - install, then run the benchmarks (results go to BENCHMARKS.md by hand)"
	@echo "make lint   - ruff, mypy and the secret scan (files and history)"
	@echo "make audit  - pip-audit of the locked dependencies (needs PyPI's vulnerability API)"
	@echo "make collector - the Streamlit collector against a local fleet (simulated subject)"

# Installs uv (pinned) if missing, then the locked environment into .venv.
install: .venv/.brain-installed

.venv/.brain-installed: uv.lock pyproject.toml $(wildcard */pyproject.toml)
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 \
		|| python3 -m pip install --quiet "uv==$(UV_VERSION)"
	$(UV) sync --frozen --all-packages
	@touch $@

# Debian packages the tests use: chromium drives the collector's browser test (Playwright
# uses it; it never downloads a browser of its own); caddy validates the Caddyfile;
# shellcheck the entrypoint scripts. gitlab-ci-local (npm) parses .gitlab-ci.yml offline.
GITLAB_CI_LOCAL := $(CURDIR)/.tools/node_modules/.bin/gitlab-ci-local
DEBIAN_TOOLS := chromium caddy shellcheck

system-deps:
	@if [ ! -x "$(GITLAB_CI_LOCAL)" ] && command -v npm >/dev/null 2>&1; then \
		echo "installing gitlab-ci-local (npm) to check .gitlab-ci.yml offline"; \
		npm install --silent --no-audit --no-fund --prefix .tools gitlab-ci-local@4.73.0 >/dev/null; \
	fi
	@missing="$$(for tool in $(DEBIAN_TOOLS); do [ -x /usr/bin/$$tool ] || echo $$tool; done)"; \
	if [ -n "$$missing" ]; then \
		if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
			echo "installing Debian's $$missing for the tests"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
		else \
			echo "warning: missing $$missing; install them from Debian for the tests" >&2; \
		fi; \
	fi

demo: install
	$(RUN) brain demo

# The Streamlit collector against a local fleet, with a simulated subject.
collector: install
	$(RUN) brain demo-collector

test: install system-deps
	GITLAB_CI_LOCAL=$(GITLAB_CI_LOCAL) $(RUN) pytest $(PYTEST_ARGS)

test-fast: install
	$(RUN) pytest -m "not slow and not integration" $(PYTEST_ARGS)

bench: install
	$(RUN) python -m benchmarks

lint: install
	$(RUN) ruff check .
	$(RUN) mypy brain_core
	$(RUN) python infrastructure/scan_secrets.py

# Known vulnerabilities in exactly what uv.lock installs. --strict fails when a package
# cannot be looked up, so an unreachable vulnerability service is an error, not a pass.
audit: install
	$(UV) export --frozen --all-packages --no-emit-workspace --quiet -o .venv/audit-requirements.txt
	$(RUN) pip-audit --strict --disable-pip --progress-spinner off -r .venv/audit-requirements.txt

clean:
	rm -rf .venv .pytest_cache .mypy_cache .ruff_cache
