# The two README commands are `make demo` and `make test`; everything else is a helper.
PY := .venv/bin/python
RUN_DIR ?= runs/tiny

.PHONY: demo test setup setup-dev course slides lint

setup:
	bash scripts/setup.sh

setup-dev:
	bash scripts/setup.sh dev

# The learner set-up: notebook and Hugging Face extras (Jupyter, ipywidgets, ipykernel,
# transformers) and the `auroragpt` Jupyter kernel in the user's Jupyter data dir.
# KERNEL_ARGS passes options on, e.g. KERNEL_ARGS="--module conda" on ALCF JupyterHub.
course:
	bash scripts/setup.sh hf,notebooks
	.venv/bin/python scripts/jupyter_kernel.py $(KERNEL_ARGS)

# Train the tiny preset on the built-in corpora, evaluate its checkpoints, list the plots.
# Run again, it resumes the same run (a finished run has nothing left to train).
demo: setup
	.venv/bin/auroragpt train --preset tiny --run-dir $(RUN_DIR) \
		$$([ -f $(RUN_DIR)/config.yaml ] && echo --resume)
	.venv/bin/auroragpt eval $(RUN_DIR)
	@echo "plots:"; ls -1 $(RUN_DIR)/*.png $(RUN_DIR)/eval/*.png 2>/dev/null || true

# The whole test suite on 2 CPU workers; add PYTEST_ARGS=--runslow for the long runs.
# The slide tests install Chromium and reveal.js themselves where missing (tests/slides/conftest.py).
test: setup-dev
	$(PY) -m pytest -n 2 $(PYTEST_ARGS)

# Render every deck to self-contained HTML in slides/_site/: with Quarto where it is installed,
# otherwise offline from the same .qmd sources (Jupyter kernel + pandoc + reveal.js from npm).
slides: setup-dev
	@if command -v quarto >/dev/null 2>&1; then \
		QUARTO_PYTHON=$(abspath $(PY)) quarto render slides/; \
	else \
		bash scripts/setup_browser.sh --revealjs-only && $(PY) slides/render.py; \
	fi

lint: setup-dev
	.venv/bin/ruff check .
