# Inkwell: `make run` to try it, `make test` to check it, `make serve` for production.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
WORKERS ?= 2
TEST_WORKERS ?= auto
FLASK := $(BIN)/flask --app app

.PHONY: run serve test fuzz lint audit bench bench-quick lighthouse screenshots fonts code-css tools init-db seed-demo clean

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

# Says where the blog is and how to log in (first-steps), then serves it; `make run PORT=8080` for another port.
run: init-db
	@$(FLASK) first-steps --host $(HOST) --port $(or $(PORT),5000)
	$(FLASK) run --host $(HOST) --port $(or $(PORT),5000)

serve: init-db
	HOST=$(HOST) PORT=$(or $(PORT),8000) WORKERS=$(WORKERS) $(BIN)/gunicorn --config gunicorn.conf.py "app:create_app()"

seed-demo: init-db
	$(FLASK) seed-demo --posts $(or $(POSTS),30) --comments $(or $(COMMENTS),200)

# Node tools for the tests and `make lighthouse` (the Nu HTML Checker, Lighthouse), from package-lock.json.
# Without npm, the tests that need them are reported as skipped.
node_modules/.installed: package.json package-lock.json
	@if command -v npm >/dev/null; then npm ci --no-audit --no-fund --loglevel=error && touch $@; \
	else echo "npm not found: the HTML validity test will be skipped"; fi

tools: node_modules/.installed

test: $(VENV)/.installed-dev tools
	$(BIN)/python -m pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

# Every figure of issue 21's table and more, as ratios to a bare Flask app measured in the same run, then each
# page's weight in bytes (bench/page_weight.py); both go to bench/results.md. PostgreSQL and Redis rows need
# scratch ones: BENCH_DATABASE_URL and BENCH_REDIS_URL (else TEST_DATABASE_URL and TEST_REDIS_URL), emptied.
bench: $(VENV)/.installed-dev
	$(BIN)/python bench/run.py $(BENCH_ARGS)
	$(if $(findstring --quick,$(BENCH_ARGS)),,$(BIN)/python bench/page_weight.py)

# The same rows in about a minute (CI runs it): figures printed and put in bench/results-quick.md (git-ignored),
# nothing asserted on time; it fails only when the bench itself does.
bench-quick: $(VENV)/.installed-dev
	$(BIN)/python bench/run.py --quick $(BENCH_ARGS)

# The property tests with many more examples than `make test` runs (minutes, not seconds).
fuzz: $(VENV)/.installed-dev
	HYPOTHESIS_PROFILE=fuzz $(BIN)/python -m pytest tests/test_sanitizer_properties.py tests/test_route_fuzzing.py -q $(PYTEST_ARGS)

# static/fonts/: Literata and Inter from npm (into a temporary folder), subset with fontTools; see bench/build_fonts.py.
fonts: $(VENV)/.installed-dev
	$(BIN)/python bench/build_fonts.py

# The colours of highlighted code in static/style.css, from the pinned Pygments (after upgrading it).
code-css: $(VENV)/.installed-dev
	$(BIN)/python bench/build_code_css.py

# Lighthouse's scores in Debian's Chromium: home and a post (phone and desktop), and every admin screen.
lighthouse: $(VENV)/.installed-dev tools
	$(BIN)/python bench/lighthouse.py

# The README's screenshots (readers' pages at 360, 768 and 1280 px, light and dark; the admin screens) into docs/.
screenshots: $(VENV)/.installed-dev
	$(BIN)/python bench/screenshots.py

# The import contract (no circle, nothing imports the app, tests share helpers.py) is part of the lint.
lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -q -p no:xdist tests/test_import_graph.py tests/test_layout.py

# Security audit: bandit on the code (a high-severity finding fails), pip-audit on the installed packages (a
# known vulnerability fails; a vulnerability database that cannot be reached is only a warning).
audit: $(VENV)/.installed-dev
	$(BIN)/bandit -q -r . -x ./.venv,./tests,./node_modules,./bench --severity-level high
	@$(BIN)/pip-audit --local --progress-spinner off > .pip-audit.log 2>&1; status=$$?; \
	if grep -q "known vulnerabilit" .pip-audit.log && ! grep -q "No known vulnerabilities" .pip-audit.log; then \
		cat .pip-audit.log; rm -f .pip-audit.log; exit 1; \
	elif [ $$status -ne 0 ] || grep -q "could not be audited" .pip-audit.log; then \
		echo "warning: pip-audit could not check every package (is a vulnerability database reachable?)"; \
	else echo "pip-audit: no known vulnerabilities"; fi; rm -f .pip-audit.log

clean:
	rm -rf $(VENV) .pytest_cache test-artifacts node_modules
