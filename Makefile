# Two commands a newcomer needs: `make demo` and `make test`. Both create .venv on first use.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev

.PHONY: demo test lint bench clean workflows toyworld fidelity

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	mkdir -p output
	$(BIN)/lag generate --entry sample:sample_rap_1 \
		--size 64 64 --steps 50 --seed 0 --out output/demo.png --json

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

# Rebuild the embedded toy world (about 40 minutes on 2 cores): CLIP (18 min) and autoencoder
# (38 min) in parallel, one core each, then lyric attention on the bundled sample with the new CLIP.
toyworld: $(STAMP)
	mkdir -p weights/toyworld
	$(BIN)/lag toyworld train-clip --out weights/toyworld/clip.safetensors --minutes 18 --threads 1 & \
	$(BIN)/lag toyworld train-vqgan --out weights/toyworld/vqgan.safetensors --minutes 38 --threads 1 & \
	wait
	$(BIN)/lag toyworld references output/toyworld_references --per-genre 16
	for k in mha bahdanau; do rm -f weights/attention/toyworld_lyric_attention_$$k.safetensors; \
		$(BIN)/lag train --preset toyworld --attention $$k --epochs 60 --batch-size 8 --release \
		--image-dir output/toyworld_references \
		--out weights/attention/toyworld_lyric_attention_$$k.safetensors --json || exit 1; done
	rm -f weights/attention/*_curves.png

fidelity: $(STAMP)
	$(BIN)/lag eval fidelity --out output/fidelity
