# specsolve: `make demo` runs the main job, `make test` the test suite; both set up their own virtualenv.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO := runs/demo

.PHONY: venv lint test test-fast test-slow test-gpu demo benchmark clean plugin-demo docs

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e ".[test,dev,hub,docs,mlflow,wandb]"
	# the reference implementations the equivalence tests compare against (MIT / Apache-2.0, the `reference` extra);
	# --no-deps: their declared dependencies would pull a CUDA torch and tracking tools they do not import
	$(BIN)/python -m pip install -q --no-deps neuraloperator==2.0.0 galerkin-transformer==0.2.1 torch-cfd==0.2.6
	$(BIN)/python -m pip install -q tensorly tensorly-torch opt_einsum torchinfo ipython pandas einops requests
	# the `sphere` extra (plugins/specsolve-sfno), --no-deps: its wheel pins torch 2.14 but runs on 2.13
	$(BIN)/python -m pip install -q --no-deps "torch-harmonics>=0.9.3,<0.10"
	touch $(STAMP)

venv: $(STAMP)

# static checks: ruff (lint + format) and the import-layer contract in pyproject.toml
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

test: lint
	$(BIN)/python -m pytest -q

# the inner loop: the default run without the end-to-end (integration) and multi-process (distributed) tests
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow and not gpu and not integration and not distributed"

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow

# the suite at the lowest versions pyproject.toml allows for the core dependencies (each `>=X` read as `==X`), in a
# separate venv; the versions the suite last ran with are pinned in constraints.txt (pip install -c constraints.txt)
MIN_VENV ?= build/venv-min
test-min:
	$(PYTHON) -m venv $(MIN_VENV)
	$(PYTHON) -c "import re, tomllib; deps = tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']; print('\n'.join(re.sub(r'>=([^,]+).*', r'==\1', d) for d in deps))" > $(MIN_VENV)/constraints-min.txt
	$(MIN_VENV)/bin/python -m pip install -q -c $(MIN_VENV)/constraints-min.txt -e ".[test]"
	$(MIN_VENV)/bin/python -m pip list 2>/dev/null | grep -i -E "^(torch|lightning|h5py|h5netcdf|xarray|omegaconf|numpy|scipy|rich|matplotlib) "
	$(MIN_VENV)/bin/python -m pytest -q $(TESTS)

# the CUDA checks in tests/gpu/ (skipped where no GPU is visible)
test-gpu: $(STAMP)
	$(BIN)/python -m pytest -q -m gpu

# generate a small Darcy dataset, train an FNO on CPU, predict, evaluate (also zero-shot on a 2x finer grid and an
# error-against-resolution table), draw figures (samples, spectra, training curves, error against resolution)
demo: $(STAMP)
	rm -rf $(DEMO)
	$(BIN)/specsolve generate datasets/darcy_demo.yaml --overwrite
	$(BIN)/specsolve generate datasets/darcy_demo_fine.yaml --overwrite
	$(BIN)/specsolve train configs/demo_fno_darcy.yaml run_dir=$(DEMO)
	$(BIN)/specsolve predict -c $(DEMO)/checkpoints/best.ckpt -d data/darcy_demo/test.h5 -o $(DEMO)/pred_test.h5
	$(BIN)/specsolve evaluate -p $(DEMO)/pred_test.h5 -d data/darcy_demo/test.h5 --json $(DEMO)/metrics_test.json --plot $(DEMO)/figures/test_samples.png
	$(BIN)/specsolve predict -c $(DEMO)/checkpoints/best.ckpt -d data/darcy_demo_fine/test.h5 -o $(DEMO)/pred_fine.h5
	$(BIN)/specsolve evaluate -p $(DEMO)/pred_fine.h5 -d data/darcy_demo_fine/test.h5 --json $(DEMO)/metrics_fine.json --plot $(DEMO)/figures/fine_samples.png
	$(BIN)/specsolve evaluate -c $(DEMO)/checkpoints/best.ckpt -d data/darcy_demo/test.h5 -d data/darcy_demo_fine/test.h5 --strides 1,2 --json $(DEMO)/metrics_resolution.json --plot $(DEMO)/figures/error_vs_resolution.png
	@echo "demo done: see $(DEMO)/ (metrics_*.json, figures/*.png incl. training_curves.png, logs/metrics.csv)"

benchmark: $(STAMP)
	$(BIN)/python -m benchmarks.fno_throughput

clean:
	rm -rf $(VENV) runs/demo data/darcy_demo data/darcy_demo_fine

# install the example third-party plugin (entry points) and train its U-Net from a config by name
plugin-demo: $(STAMP)
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e plugins/specsolve-baselines
	test -f data/darcy_demo/train.h5 || $(BIN)/specsolve generate datasets/darcy_demo.yaml
	$(BIN)/specsolve plugins list --kind model
	rm -rf runs/unet2d_darcy_demo
	$(BIN)/specsolve train plugins/specsolve-baselines/configs/unet2d_darcy_demo.yaml

# the documentation site (mkdocs.yml): the config reference regenerated, then built with warnings as errors into site/
# (the gallery shows runs/demo/figures/ from `make demo` when present); tests/test_docs_site.py builds it in CI
docs: $(STAMP)
	$(BIN)/python docs/gen_config_reference.py
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict
