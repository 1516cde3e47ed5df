# The README's quick start: two commands, each setting up what it needs the first time.
#
#   make demo         the main job (`wmgym demo`) on the shipped reacher model
#   make test         the quick test suite (`python -m pytest`)
#   make test-slow    the long learning tests (`-m slow`)
#   make lint         ruff check and format check
#   make setup        only the set-up: system packages, $(VENV), torch (CPU), wmgym[dev,mjx]
#
# The set-up runs once: it leaves a stamp file in $(VENV) and runs again only if pyproject.toml
# changes or the stamp is removed. Pass flags with ARGS: make demo ARGS="--ppo-steps 200000".
# A GPU: see the README's "GPU" section (install torch for CUDA into $(VENV) first; it is kept).

PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
# PyPI's torch for Linux is the CUDA build (several GB of wheels); this index serves the CPU one.
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
EXTRAS ?= dev,mjx
ARGS ?=
# Headless rendering: EGL with Mesa's software (llvmpipe) driver where there is no GPU.
SYSTEM_PACKAGES := libegl1 libegl-mesa0 libgl1-mesa-dri libgles2

BIN := $(VENV)/bin
STAMP := $(VENV)/.wmgym-setup
export MUJOCO_GL := egl

.PHONY: demo test test-slow lint setup system-packages

demo: setup
	$(BIN)/wmgym demo $(ARGS)

test: setup
	$(BIN)/python -m pytest $(ARGS)

test-slow: setup
	$(BIN)/python -m pytest -m slow $(ARGS)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

setup: system-packages $(STAMP)

# torch first, so that installing wmgym (torch>=2.4) finds it and pulls no CUDA build: a torch
# already in the venv is kept (a CUDA build you installed); else a wheel pip finds without an
# index (a local copy, as on this project's machines; its dependencies come with wmgym's);
# else the CPU index.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "wmgym needs Python >= 3.11; $(PYTHON) is $$($(PYTHON) --version 2>&1): make PYTHON=python3.12 ..."; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -c 'import torch' 2>/dev/null || \
		$(BIN)/python -m pip install -q --no-index --no-deps "$(TORCH)" 2>/dev/null || \
		$(BIN)/python -m pip install -q "$(TORCH)" --index-url $(TORCH_INDEX)
	$(BIN)/python -m pip install -q -e ".[$(EXTRAS)]"
	touch $@

# Checked on every run (dpkg, a fraction of a second); installed with apt-get when run as root.
system-packages:
	@if ! command -v dpkg >/dev/null; then \
		echo "note: no dpkg to check system packages; headless rendering needs EGL and Mesa (Debian: $(SYSTEM_PACKAGES))"; \
	else \
		missing=$$(for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
		if [ -z "$$missing" ]; then :; \
		elif [ "$$(id -u)" = 0 ]; then \
			echo "installing system packages for headless rendering:" $$missing; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
		else \
			echo "headless rendering (EGL, Mesa) needs system packages that are missing:" $$missing; \
			echo "install them, then run make again:  sudo apt-get install" $$missing; \
			exit 1; \
		fi; \
	fi
