# Two commands do all set-up on a fresh clone (Linux, Python 3.10+, CPU is enough):
#   make quickstart   # creates .venv if missing, installs the project, trains the download-free quickstart
#   make test         # creates .venv if missing, installs the project with test extras, runs the test suite
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: quickstart test clean

$(STAMP): pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

quickstart: $(STAMP)
	OMP_WAIT_POLICY=PASSIVE $(VENV)/bin/lightning-gans fit --config experiments/quickstart.yaml
	@echo "quickstart done: sample grids in runs/quickstart/samples/, metrics in runs/quickstart/lightning_logs/version_*/metrics.csv, checkpoints in runs/quickstart/checkpoints/"

test: $(STAMP)
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} WANDB_MODE=disabled $(VENV)/bin/python -m pytest -q

clean:
	rm -rf runs
