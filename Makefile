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
	$(BIN)/lag generate --entry sample:sample_metal_0 \
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
	$(BIN)/python scripts/make_workflows.py --thumbnails

clean:
	rm -rf $(VENV) output .pytest_cache .ruff_cache .comfyui

# Rebuild the embedded toy world (about 56 minutes on 2 cores): the CLIP from scratch (25 min, both
# cores) and continued on fresh renders at a lower learning rate (15 min), then the autoencoder fine-tuned from the shipped one (15 min), then lyric attention (both
# kinds, over words) on the bundled sample with the new CLIP. The autoencoder from scratch instead:
# `lag toyworld train-vqgan --out FILE --minutes 38 --threads 1`.
toyworld: $(STAMP)
	mkdir -p weights/toyworld
	$(BIN)/lag toyworld train-clip --out weights/toyworld/clip.safetensors --minutes 25 --threads 2
	$(BIN)/lag toyworld train-clip --init weights/toyworld/clip.safetensors --lr 3e-4 --seed 1 \
		--out weights/toyworld/clip.safetensors --minutes 15 --threads 2
	$(BIN)/lag toyworld train-vqgan --init weights/toyworld/vqgan.safetensors --lr 3e-4 \
		--out weights/toyworld/vqgan.safetensors --minutes 15 --threads 2
	$(BIN)/lag toyworld references output/toyworld_references --per-genre 16
	for k in mha bahdanau; do rm -f weights/attention/toyworld_lyric_attention_$$k.safetensors; \
		$(BIN)/lag train --preset toyworld --attention $$k --keys words --epochs $(TOY_EPOCHS) --batch-size 8 --release \
		--genre-weight $(TOY_GENRE_WEIGHT) --audio-only-genre-weight $(TOY_AUDIO_ONLY_GENRE_WEIGHT) --image-dir output/toyworld_references \
		--out weights/attention/toyworld_lyric_attention_$$k.safetensors --json || exit 1; done
	rm -f weights/attention/*_curves.png

TOY_EPOCHS ?= 40
TOY_GENRE_WEIGHT ?= 0.2
TOY_AUDIO_ONLY_GENRE_WEIGHT ?= 0.4

# The fidelity benchmark on the 32 held-out lines, 5 conditions, seeds 0 and 1, 30 steps, 8 cutouts.
fidelity: $(STAMP)
	$(BIN)/lag eval fidelity --out output/fidelity
