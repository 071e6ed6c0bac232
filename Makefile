# The whole set-up is in here: `make demo` and `make test` each create .venv when it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo demo-generators test test-slow test-gpu bench bench-gpu lint clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --no-cache-dir --upgrade pip
	$(BIN)/pip install --quiet --no-cache-dir -c constraints.txt -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/synth2seg demo

# Refit the generators `make demo` samples from (bench/presets/generators, with manifest.json):
# about 20 minutes on 2 CPU cores (manifest.json has each fit's time and machine); DEVICE=cuda on a GPU machine.
DEVICE ?= cpu
demo-generators: $(STAMP)
	$(BIN)/python -m bench.run.demo_generators --device $(DEVICE)

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mkdocs build --strict --quiet --site-dir site
	$(BIN)/python -m pytest

test-slow: $(STAMP)
	$(BIN)/python -m pytest -m slow

test-gpu: $(STAMP)
	$(BIN)/python -m pytest -m gpu

bench: $(STAMP)
	$(BIN)/python -m pytest bench/benchmarks -m "" --benchmark-only

# Segmenter throughput and MFU, generator step times and sampling at the paper sizes; each
# benchmark skips (with its reason) where CUDA is absent.
bench-gpu: $(STAMP)
	$(BIN)/python -m pytest bench/benchmarks -m gpu --benchmark-only -rs -s

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) runs site .pytest_cache
