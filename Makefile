# Set-up is part of every target: a fresh clone needs only python3 (>= 3.10) and make.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.lstm2d-installed

.PHONY: demo test test-portable test-deep lint format clean gpu-check gpu-wheels

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e ".[keras,train,export,dev]"
	# tf-keras (Keras 2) writes the legacy .h5 files the tests read; --no-deps, or it pulls the full
	# tensorflow package over tensorflow-cpu (both write the same module folder).
	$(PY) -m pip install --quiet --no-deps -c constraints.txt tf-keras
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/lstm2d demo

# The whole suite with Keras on TensorFlow, then the Keras-marked tests once per other
# Keras backend (KERAS_BACKEND is read once per process, at `import keras`), but for the
# `backend_neutral` ones (Keras files written and read, the torch-to-Keras direction of weight copy:
# see pyproject's markers). The `deep` tests (the full gradient and training matrix) are left to
# `make test-deep`, which runs everything on every backend. $(1): environment settings.
define fast_suite
	$(1) KERAS_BACKEND=tensorflow $(PY) -m pytest -m "not deep"
	$(1) KERAS_BACKEND=jax $(PY) -m pytest -m "keras and not deep and not backend_neutral"
	$(1) KERAS_BACKEND=torch $(PY) -m pytest -m "keras and not deep and not backend_neutral"
endef

# torch.compile's cache, one per set of CPU kernel limits (see test-portable)
COMPILE_CACHE := TORCHINDUCTOR_CACHE_DIR=$(CURDIR)/$(VENV)/torchinductor

test: $(STAMP)
	$(call fast_suite,$(COMPILE_CACHE))

# The same suite with every framework's CPU kernels limited to AVX2 (oneDNN in torch and TensorFlow, ATen's
# own kernels, XLA in JAX), so kernel-dependent assumptions show up on an AVX-512 or AMX machine too.
# Each target gives torch.compile a cache of its own: inductor's cache key leaves out these limits (torch 2.13),
# and a graph cached by a full-ISA run came back with wrong numbers (a NaN training loss) under them.
PORTABLE_ENV := ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 XLA_FLAGS=--xla_cpu_max_isa=AVX2
PORTABLE_ENV += TORCHINDUCTOR_CACHE_DIR=$(CURDIR)/$(VENV)/torchinductor-avx2
test-portable: $(STAMP)
	$(call fast_suite,$(PORTABLE_ENV))

# Everything on all three backends: the `deep` gradient and training matrix, and property-based parity
# with hundreds of random specs instead of a few.
test-deep: $(STAMP)
	$(COMPILE_CACHE) LSTM2D_HYPOTHESIS_PROFILE=deep KERAS_BACKEND=tensorflow $(PY) -m pytest -m "deep or not deep"
	$(COMPILE_CACHE) LSTM2D_HYPOTHESIS_PROFILE=deep KERAS_BACKEND=jax $(PY) -m pytest -m keras
	$(COMPILE_CACHE) LSTM2D_HYPOTHESIS_PROFILE=deep KERAS_BACKEND=torch $(PY) -m pytest -m keras

# The first run on a CUDA machine, one call (benchmarks/README.md, "On a GPU"): the CUDA tests, the GPU benchmark
# and a short training run, into $(GPU_OUT). It uses the machine's own python3 and torch (no venv, no network);
# Keras travels as the wheels `make gpu-wheels` downloads into .whl/.
GPU_OUT ?= gpu-check
gpu-check:
	$(PYTHON) -m benchmarks.gpu_check $(GPU_OUT)

# Keras (the version constraints.txt pins) and the pure-Python or small packages it needs beyond what a CUDA
# machine with torch and JAX has, as wheels for CPython 3.12 on x86-64 Linux.
GPU_WHEELS := $(shell grep -E '^keras==' constraints.txt) namex==0.1.0 optree==0.20.0
gpu-wheels:
	$(PYTHON) -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
		--platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
		-d .whl $(GPU_WHEELS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache *.egg-info
