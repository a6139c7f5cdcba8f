# Two entry points on a fresh machine (see README): `make demo` and `make test`.
# Both create the virtual environment on first use. torch is installed first, from the CPU
# build these machines hold, so stable-baselines3 does not pull a CUDA build of several GB.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.themis-env-installed
JOBS ?= 2

.PHONY: demo test lint bench setup clean

setup: $(STAMP)

# ray (with Tune) and rl-zoo3 are installed too, so the tests cover the leaderboard's Ray backend,
# the agents' Ray Tune sweeps and rl-zoo3 reading the agent hyperparameter files.
$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[rl,zoo,plots,ray,tune,dev]"
	touch $(STAMP)

# The main job: the smoke leaderboard on the bundled default scenarios. --resume: a second
# `make demo` reuses the finished runs (and runs any that are missing) and redraws the report.
demo: $(STAMP)
	$(BIN)/themis-env leaderboard --suite smoke --out results/smoke --jobs $(JOBS) --resume

# The HTML report test renders leaderboard.html in headless Chromium (Debian's package), which
# the set-up installs when it is absent.
test: $(STAMP)
	command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q -n $(JOBS) --dist loadgroup

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_sim.py
	$(BIN)/python benchmarks/bench_env.py
	$(BIN)/python benchmarks/bench_dp.py

clean:
	rm -rf $(VENV) results .pytest_cache
