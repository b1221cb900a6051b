# Inkwell: `make run` to try it, `make test` to check it, `make serve` for production.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
WORKERS ?= 2
FLASK := $(BIN)/flask --app app

.PHONY: run serve test lint bench init-db seed-demo clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Stamp files: dependencies are installed again only when a requirements file changes.
$(VENV)/.installed-runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@ $(VENV)/.installed-runtime

init-db: $(VENV)/.installed-runtime
	$(FLASK) init-db

run: init-db
	$(FLASK) run --host $(HOST) --port $(or $(PORT),5000)

serve: init-db
	HOST=$(HOST) PORT=$(or $(PORT),8000) WORKERS=$(WORKERS) $(BIN)/gunicorn --config gunicorn.conf.py "app:create_app()"

seed-demo: init-db
	$(FLASK) seed-demo --posts $(or $(POSTS),30) --comments $(or $(COMMENTS),200)

test: $(VENV)/.installed-dev
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Load figures for the pages readers hit most, as ratios to a bare Flask app; BENCH_ARGS=--quick for under a minute.
bench: $(VENV)/.installed-dev
	$(BIN)/python bench/run.py $(BENCH_ARGS)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) .pytest_cache test-artifacts
