# Set-up is part of every target: a fresh clone needs only python3 (>= 3.10) and make.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.lstm2d-installed

.PHONY: demo test test-portable test-deep lint format clean

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
# Keras backend (KERAS_BACKEND is read once per process, at `import keras`). The `deep` tests
# (the full gradient and training matrix) are left to `make test-deep`. $(1): environment settings.
define fast_suite
	$(1) KERAS_BACKEND=tensorflow $(PY) -m pytest -m "not deep"
	$(1) KERAS_BACKEND=jax $(PY) -m pytest -m "keras and not deep"
	$(1) KERAS_BACKEND=torch $(PY) -m pytest -m "keras and not deep"
endef

test: $(STAMP)
	$(call fast_suite,)

# The same suite with every framework's CPU kernels limited to AVX2 (oneDNN in torch and TensorFlow, ATen's
# own kernels, XLA in JAX), so kernel-dependent assumptions show up on an AVX-512 or AMX machine too.
PORTABLE_ENV := ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 XLA_FLAGS=--xla_cpu_max_isa=AVX2
test-portable: $(STAMP)
	$(call fast_suite,$(PORTABLE_ENV))

# Everything on all three backends: the `deep` gradient and training matrix, and property-based parity
# with hundreds of random specs instead of a few.
test-deep: $(STAMP)
	LSTM2D_HYPOTHESIS_PROFILE=deep KERAS_BACKEND=tensorflow $(PY) -m pytest -m "deep or not deep"
	LSTM2D_HYPOTHESIS_PROFILE=deep KERAS_BACKEND=jax $(PY) -m pytest -m keras
	LSTM2D_HYPOTHESIS_PROFILE=deep KERAS_BACKEND=torch $(PY) -m pytest -m keras

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache *.egg-info
