# The two commands of the README. Each creates the virtual environment when it is missing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test bench examples messages clean screenshots

$(STAMP): pyproject.toml $(wildcard setup.py)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/eduledger run --data-dir data

# make test AREA=network runs one folder of tests/ (tlog, model, storage, node, network, keys, verifier,
# cli, portfolio, web, interop, layout, benchmarks); plain pytest paths work too: .venv/bin/python -m pytest tests/tlog
test: $(STAMP)
	$(BIN)/python -m pytest -q $(if $(AREA),tests/$(AREA))

# Refresh docs/screenshots/ from the browser tests: the user stories (<lang>-<width>-<story>-<step>.png) and the flows.
# Without EDULEDGER_SCREENSHOTS=1 (so in make test) the screenshots go to the tests' temporary folders.
screenshots: $(STAMP)
	EDULEDGER_SCREENSHOTS=1 $(BIN)/python -m pytest -q tests/web/test_stories.py tests/web/test_web_flows.py

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

examples: $(STAMP)
	$(BIN)/python -m ledger.cli.examples examples

clean:
	rm -rf $(VENV) data data.witness build *.egg-info

# The web UI's gettext catalogues: extract the message ids the templates and code use into messages.pot;
# tests/portfolio/test_i18n_catalogues.py names any of them missing from portfolio_api/locale/<lang>/LC_MESSAGES/messages.po.
messages: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k t -k say:2 --no-location --omit-header -o portfolio_api/locale/messages.pot .
