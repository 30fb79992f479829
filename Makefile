# Two commands on a fresh machine with Python 3.11+ and make: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
EXTRAS ?= test,peers
STAMP := $(VENV)/.installed-$(subst $(comma),-,$(EXTRAS))
comma := ,
CORES ?= all
SNAKEMAKE := $(BIN)/snakemake --cores $(CORES) --rerun-incomplete

.PHONY: run test figures lint clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[$(EXTRAS)]'
	@touch $@

## run the whole experiment (config.yaml; add ARGS="--configfile config/cdnet.yaml" for an overlay)
run: $(STAMP)
	$(SNAKEMAKE) $(ARGS)

## run the tests
test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## redraw figures from stored metrics and masks (no refitting)
figures: $(STAMP)
	$(SNAKEMAKE) --forcerun $$($(BIN)/snakemake --list-rules $(ARGS) 2>/dev/null | grep -E "^(figure_|report)") $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check bgsub tests benchmarks workflow/scripts
	$(BIN)/snakemake --lint

clean:
	rm -rf results resources .snakemake
