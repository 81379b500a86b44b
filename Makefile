# Two commands a new user needs: `make app` (dashboard) and `make test` (all tests).
# Both build .venv from .python-version (pyenv's 3.12) and install everything by themselves.
SHELL := /bin/bash
PYTHON ?= $(shell command -v pyenv >/dev/null 2>&1 && pyenv which python3 2>/dev/null || command -v python3.12 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PORT ?= 8765

.PHONY: app classroom test test-exhaustive test-fast lint venv frontend chromium bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 12), f"Python >= 3.12 needed, found {sys.version.split()[0]} (install pyenv 3.12 or set PYTHON=...)"'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Solara's front-end assets, served locally so the dashboard works with no internet.
frontend: $(STAMP)
	$(PY) scripts/setup_frontend.py

# Debian's chromium for the browser tests (never `playwright install`).
chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
	  echo "installing Debian chromium for the browser tests"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || \
	  (sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null); \
	fi

app: frontend
	SOLARA_TELEMETRY_MIXPANEL_ENABLE=False $(VENV)/bin/solara run app.py --host 127.0.0.1 --port $(PORT) --production

# The classroom game for a class on the local network: binds every interface (students' phones
# and laptops connect to this machine), prints the address to give them. Rooms are kept in
# $$ABM_CLASSROOM_DIR (default ~/.local/state/rare-earth-abm). The websocket accepts pages of
# this machine's own names and addresses only; add others with ABM_ALLOWED_HOSTS=a,b.
classroom: frontend
	@$(PY) -c 'from abm_dashboard.security import lan_addresses as a; ips = a() or ["<this machine>"]; print("Classroom: students open " + " or ".join(f"http://{ip}:$(PORT)/classroom" for ip in ips) + "; the teacher opens the same address and presses New room.")'
	SOLARA_TELEMETRY_MIXPANEL_ENABLE=False $(VENV)/bin/solara run app.py --host 0.0.0.0 --port $(PORT) --production

# Two workers (pytest-xdist): the slow tests are independent runs, and CI machines have 2 cores.
test: frontend chromium
	$(PY) -m pytest -q -n 2

# The full cross products of tests/test_invariants.py (every parameter end in every scenario,
# 1,000 random configurations): ~50 min of CPU; run it after changing the market or the agents.
test-exhaustive: frontend chromium
	ABM_TEST_EXHAUSTIVE=1 $(PY) -m pytest -q -n 2

test-fast: $(STAMP)
	$(PY) -m pytest -q -n 2 -m "not slow and not browser"

lint: $(STAMP)
	$(VENV)/bin/ruff check abm abm_dashboard experiments tests benchmarks scripts app.py

bench: frontend chromium
	$(PY) benchmarks/bench_model.py
	$(PY) benchmarks/bench_clearing.py
	$(PY) benchmarks/bench_profile.py
	$(PY) benchmarks/bench_memory.py
	$(PY) benchmarks/bench_dashboard.py
	$(PY) benchmarks/bench_classroom.py
	$(PY) benchmarks/bench_sweep.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
