# Two commands a newcomer needs: `make demo` and `make test`. Both create .venv on first use.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev

.PHONY: demo test lint bench clean workflows

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	mkdir -p output
	$(BIN)/lag generate --preset tiny --prompt "a red sun over a dark sea" --prompt "blurry:-0.5" \
		--size 64 64 --steps 40 --seed 0 --out output/demo.png --json

COMFY := .comfyui/.ready

$(COMFY): $(STAMP) scripts/setup_comfyui.py
	$(BIN)/python scripts/setup_comfyui.py

lint: $(STAMP)
	$(BIN)/ruff check .

test: lint $(COMFY)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python bench/bench_sampler.py
	$(BIN)/python bench/bench_mfcc.py
	$(BIN)/python bench/bench_train.py

workflows: $(STAMP)
	$(BIN)/python scripts/make_workflows.py

clean:
	rm -rf $(VENV) output .pytest_cache .ruff_cache .comfyui
