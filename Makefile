# Two commands on a fresh machine with Python 3.11+ and make: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
EXTRAS ?= test,peers
comma := ,
# Exact versions (Python 3.11, with hashes) of the `test` and `peers` extras; `make LOCK=` installs the latest
# releases the bounds in pyproject.toml allow instead (`make lock` rewrites the lock files, README "Development").
LOCK ?= requirements.lock
SLURM_LOCK ?= requirements-slurm.lock
STAMP := $(VENV)/.installed-$(subst $(comma),-,$(EXTRAS))$(if $(LOCK),-locked)
CORES ?= all
## the config Snakemake starts from: CONFIG=mine.yaml runs only its datasets (and, without `methods:`, the default gmm);
## the tests write their own configs, so they run with BGSUB_CONFIG empty
CONFIG ?= config.yaml
export BGSUB_CONFIG := $(CONFIG)
SNAKEMAKE := $(BIN)/snakemake --cores $(CORES) --rerun-incomplete

.PHONY: run resume test report figures ablation levers lint clean lock

$(STAMP): pyproject.toml $(LOCK)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@rm -f $(VENV)/.installed-*  # whatever was installed before (locked or latest) is replaced
	$(BIN)/python -m pip install -q --upgrade pip
ifneq ($(strip $(LOCK)),)
	$(BIN)/python -m pip install -q --require-hashes -r $(LOCK)
	$(BIN)/python -m pip install -q --no-deps -e .
else
	$(BIN)/python -m pip install -q --upgrade --upgrade-strategy eager -e '.[$(EXTRAS)]'
endif
	@touch $@

## rewrite the lock files from pyproject.toml with uv, keeping the versions they pin where they still fit;
## `make lock LOCK_ARGS=--upgrade` moves every package to its latest release
UV_COMPILE = $(BIN)/uv pip compile pyproject.toml --python-version 3.11 --generate-hashes --custom-compile-command 'make lock' -q
lock:
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@test -x $(BIN)/uv || $(BIN)/python -m pip install -q uv
	$(UV_COMPILE) --extra test --extra peers $(LOCK_ARGS) -o requirements.lock
	$(UV_COMPILE) --extra test --extra peers --extra slurm -c requirements.lock $(LOCK_ARGS) -o requirements-slurm.lock

## run the whole experiment (config.yaml; add ARGS="--configfile config/cdnet.yaml" for an overlay);
## make run CONFIG=mine.yaml runs your config instead of config.yaml (README "Quick start on your own video")
run: $(STAMP)
	@$(MAKE) --no-print-directory resume

## the same without the venv bootstrap. A run that was killed resumes: incomplete jobs rerun, and Snakemake's
## stale lock is removed, which is safe because `flock` (a kernel lock, released when its holder dies) lets
## only one `make run` at a time into this folder.
FLOCK := $(shell command -v flock 2>/dev/null)
RUN_LOCK := .snakemake/make-run.lock
resume:
ifdef FLOCK
	@mkdir -p .snakemake
	@$(FLOCK) -n -E 75 $(RUN_LOCK) sh -c '$(BIN)/snakemake --unlock $(ARGS) >/dev/null 2>&1; exec $(SNAKEMAKE) $(ARGS)' \
	  || { s=$$?; [ $$s -ne 75 ] || echo "bgsub: error: another 'make run' is running in $$(pwd)" >&2; exit $$s; }
else
	$(SNAKEMAKE) $(ARGS)
endif

## run the tests, on TEST_WORKERS pytest-xdist workers (groups of files: tests/conftest.py XDIST_GROUPS), after
## compiling the common numba kernels once into their cache (on a fresh checkout the workers would each compile them)
TEST_WORKERS ?= 2
test: $(STAMP)
	$(BIN)/python -m bgsub.precompile --jobs $(TEST_WORKERS)
	BGSUB_CONFIG= $(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

## run the experiment, then write Snakemake's report: results/report.html (same ARGS as `make run`)
##   the real sequences and OpenCV peers too: make report ARGS="--configfile config/cdnet.yaml"
report: $(STAMP)
	@$(MAKE) --no-print-directory resume
	$(BIN)/snakemake --report results/report.html $(ARGS)

## redraw figures, tables and the report from stored metrics and masks (forces the figure_*/report_* rules only)
figures: $(STAMP)
	$(SNAKEMAKE) --forcerun $$($(BIN)/snakemake --list-rules $(ARGS) 2>/dev/null | grep -E "^(figure|report)_") $(ARGS)
	$(BIN)/snakemake --report results/report.html $(ARGS)

## the accuracy ablation of the gmm levers on highway (validation 470-899, test 900-1700), WavingTrees and the
## synthetic scenes: results/ablation.csv. The variants (config/ablation.yaml) are runs of the workflow, fitted and
## scored by its rules, so they cache and resume like `make run` (its 36 variants took 28 min on 2 cores, 2026-12-07);
## while choosing: ARGS="--slices choosing"
ablation: $(STAMP)
	$(BIN)/python -m bgsub.ablation --cores $(CORES) --out results/ablation.csv --errors results/ablation_errors.csv $(ARGS)

## every scene kind with each gmm lever on and off (those the default leaves off, and its own, one at a time):
## F per kind on the validation data (with the declared rule), then on the test data, and each lever's fps cost at
## 240x320; the output names the seeds of each kind it read. With the tenth freeze's 28 variants on 2 cores
## (2026-12-07) the validation split took 44 min with its fps section, the test split 43 min without it.
## Needs ../shared/data (highway, WavingTrees). SEEDS=3: each synthetic kind's F is the mean over 3 seeds of its split
## (bgsub.synth.scene_seeds), about 3 times as long.
SEEDS ?= 1
levers: $(STAMP)
	@mkdir -p results
	$(BIN)/python benchmarks/validate_levers.py --levers all --split validation --seeds $(SEEDS) --jobs $(CORES) \
	  > results/levers_validation.txt.tmp
	mv results/levers_validation.txt.tmp results/levers_validation.txt
	$(BIN)/python benchmarks/validate_levers.py --levers all --split test --no-fps --seeds $(SEEDS) --jobs $(CORES) \
	  > results/levers_test.txt.tmp
	mv results/levers_test.txt.tmp results/levers_test.txt
	@sed -n '/^F per scene/,$$p' results/levers_validation.txt results/levers_test.txt

## ruff, then snakemake --lint, which fails on any lint but one: its advice to give each rule a conda environment
## or container (every rule runs in the venv that requirements.lock pins)
LINT_ACCEPTED := Specify a conda environment or container for each rule
lint: $(STAMP)
	$(BIN)/ruff check bgsub tests benchmarks workflow/scripts
	@out=$$($(BIN)/snakemake --lint 2>&1) && { echo "snakemake --lint: no lint"; exit 0; }; \
	  printf '%s\n' "$$out" | grep -q '^Lints for' || { printf '%s\n' "$$out"; exit 1; }; \
	  if printf '%s\n' "$$out" | grep -E '^    \* ' | grep -qv '$(LINT_ACCEPTED)'; then printf '%s\n' "$$out"; exit 1; fi; \
	  echo "snakemake --lint: only '$(LINT_ACCEPTED)' ($$(printf '%s\n' "$$out" | grep -c '$(LINT_ACCEPTED)') rules)"

clean:
	rm -rf results resources .snakemake

## SLURM (README "Scale-out"). The `slurm` extra adds snakemake-executor-plugin-slurm.
SLURM_STAMP := $(VENV)/.installed-slurm$(if $(LOCK),-locked)
SLURM_STATE ?= /tmp/bgsub-slurm
.PHONY: slurm-test slurm-run slurm-start slurm-stop

$(SLURM_STAMP): pyproject.toml $(if $(LOCK),$(SLURM_LOCK))
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@rm -f $(VENV)/.installed-*
ifneq ($(strip $(LOCK)),)
	$(BIN)/python -m pip install -q --require-hashes -r $(SLURM_LOCK)
	$(BIN)/python -m pip install -q --no-deps -e .
else
	$(BIN)/python -m pip install -q --upgrade --upgrade-strategy eager -e '.[test,peers,slurm]'
endif
	@touch $@

## start a one-node SLURM cluster here (root; apt-get installs slurm-wlm/munge), run the tiled pipeline through it,
## stop the cluster, compare results/summary.csv and masks with a local untiled run. Skips (exit 0) with the reason
## when the cluster cannot start.
slurm-test: $(SLURM_STAMP)
	BGSUB_CONFIG= BGSUB_SLURM=1 BGSUB_SLURM_INSTALL=1 $(BIN)/python -m pytest -p no:cacheprovider -rs -s tests/test_slurm.py $(PYTEST_ARGS)

## run the experiment on a SLURM cluster (profiles/slurm; set your partition there or in ARGS)
slurm-run: $(SLURM_STAMP)
	$(BIN)/snakemake --workflow-profile profiles/slurm $(ARGS)

## start / stop the local one-node cluster by hand (then: make slurm-run ARGS="--workflow-profile profiles/slurm-local")
slurm-start:
	BGSUB_SLURM_INSTALL=1 scripts/slurm/start.sh $(SLURM_STATE)
slurm-stop:
	scripts/slurm/stop.sh $(SLURM_STATE)
