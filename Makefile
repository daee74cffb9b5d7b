# Two commands set everything up on a fresh machine:
#   make run    runs the main job on a shipped scenario and writes charts
#   make test   runs the tests (make fuzz: the schema property test, long)
# Both create .venv (Python >= 3.12) and install the package with its Cython kernels.

VENV    := .venv
VPY     := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
SCENARIO ?= scenarios/baseline.yaml

# A Python >= 3.12: PATH first, then pyenv's versions folder.
PYTHON ?= $(shell for c in python3.13 python3.12 python3; do \
	  p=$$(command -v $$c 2>/dev/null) && $$p -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null && { echo $$p; exit 0; }; \
	done; \
	root=$$(pyenv root 2>/dev/null || echo $$HOME/.pyenv); \
	for p in $$(ls -d $$root/versions/3.1[2-9]*/bin/python3 2>/dev/null | sort -rV); do \
	  $$p -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null && { echo $$p; exit 0; }; \
	done)

.PHONY: run test fuzz bench calibrate sweep study dashboard browser install clean

run: $(STAMP)
	$(VENV)/bin/flywheel run $(SCENARIO)

test: $(STAMP) browser
	$(VPY) -m pytest -q

# Debian's Chromium for the dashboard's browser tests (tests/test_dashboard_browser.py),
# installed when it is missing and this user may (root with apt-get; about 30 s); otherwise
# those tests are skipped and say why, and so does this line.
browser:
	@command -v chromium >/dev/null 2>&1 && exit 0; \
	if [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then \
	  echo "note: no Chromium, and installing it needs root and apt-get: the dashboard's browser tests will be skipped"; exit 0; fi; \
	{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    --no-install-recommends chromium; } >.apt-chromium.log 2>&1 \
	  || { tail -n 5 .apt-chromium.log; \
	       echo "note: apt-get could not install chromium (above): the dashboard's browser tests will be skipped"; }

# The dashboard (sim/app.py) on http://127.0.0.1:8765/: make dashboard [SCENARIO=file].
# The set-up installs [dev], which includes the [dashboard] extra.
dashboard: $(STAMP)
	$(VENV)/bin/flywheel dashboard $(SCENARIO)

# The schema property test (tests/test_schema_property.py) with many random examples instead of
# the suite's fixed 60: about 20 minutes for the default 20,000 on one core; FUZZ_EXAMPLES=N.
# Failing examples are kept in .hypothesis/ and tried first next time.
FUZZ_EXAMPLES ?= 20000
fuzz: $(STAMP)
	FLYWHEEL_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(VPY) -m pytest -q -p no:cacheprovider \
	  tests/test_schema_property.py --hypothesis-show-statistics

bench: $(STAMP)
	$(VENV)/bin/flywheel bench --quick

# The calibration table of design 18 over 10 baseline seeds and 5 seeds per shock row
# (75 runs, ten of them the baseline over a year as the loss-share row's context; 4 min on 2
# cores with the 90-day runs already stored); writes docs/calibration.md.
calibrate: $(STAMP)
	$(VENV)/bin/flywheel calibrate

# The shipped sweeps (scenarios/sweeps/): six insurance sizes across six scenarios and the two
# insurance denominations at two sizes in two shocks, 60 seeds each (2,160 + 480 runs of 15
# days; about 25 min on 2 cores).
# Each writes results/<sweep>/{runs.parquet, aggregate.csv, report.md, charts/}; killed, it
# resumes where it stopped.
sweep: $(STAMP)
	$(VENV)/bin/flywheel sweep scenarios/sweeps/insurance_size.yaml; a=$$?; \
	$(VENV)/bin/flywheel sweep scenarios/sweeps/insurance_denomination.yaml; b=$$?; \
	exit $$(( a > b ? a : b ))

# The study of the scenario library (scenarios/study.yaml): verdicts and results/<study>/REPORT.md.
study: $(STAMP)
	$(VENV)/bin/flywheel study scenarios/study.yaml

install: $(STAMP)

$(VPY):
	@if [ -z "$(PYTHON)" ]; then \
	  echo "flywheel-sim needs Python >= 3.12 (mesa 3.5 requires it): none found on PATH or in pyenv's versions." >&2; \
	  echo "Install one (e.g. 'pyenv install 3.12') or run 'make PYTHON=/path/to/python3.12'." >&2; exit 2; fi
	$(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install -q --upgrade pip setuptools wheel

$(STAMP): $(VPY) pyproject.toml setup.py $(wildcard kernels/*.pyx kernels/*.pxd)
	$(VPY) -m pip install -q "Cython>=3,<4" "numpy>=2,<3" "setuptools>=69"
	$(VPY) -m pip install -q --no-build-isolation -e ".[dev]"
	@touch $(STAMP)

clean:
	rm -rf build kernels/*.c kernels/*.so *.egg-info
