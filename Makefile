# Two commands: `make run` (napari with the plugin and a sample scene) and `make test`.
# Everything installs into ./.venv; nothing is installed system-wide except Xvfb for GUI tests.

VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python

# PyTorch is chosen explicitly so a CPU-only machine does not pull a multi-GB CUDA build:
# without an NVIDIA driver, pip also looks at PyTorch's CPU wheel index (TORCH_INDEX); with
# one, PyPI's default (CUDA) build is taken. Override either, e.g. `make run TORCH_INDEX=`.
TORCH ?= torch==2.13.0
TORCH_INDEX ?= $(if $(shell command -v nvidia-smi 2>/dev/null),,https://download.pytorch.org/whl/cpu)
EXTRAS ?= all,testing

.PHONY: run demo test lint venv gui-deps clean

venv: $(VENV)/.installed

$(VENV)/.installed: setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	@$(PY) -c "import torch" 2>/dev/null || { \
		idx="$(TORCH_INDEX)"; \
		if [ -n "$$idx" ] && ! $(PY) -c "import sys, urllib.request as u; u.urlopen(sys.argv[1], timeout=10)" \
			"$$idx/" >/dev/null 2>&1; then \
			echo "note: $$idx is unreachable; taking $(TORCH) from pip's configured indexes"; idx=""; \
		fi; \
		echo "$(PY) -m pip install $(TORCH) $${idx:+--extra-index-url $$idx}"; \
		$(PY) -m pip install "$(TORCH)" $${idx:+--extra-index-url $$idx}; }
	$(PY) -m pip install -e ".[$(EXTRAS)]"
	touch $@

run: venv
	@if [ -n "$$DISPLAY$$WAYLAND_DISPLAY" ]; then \
		$(PY) -m napari_ssdgl._napari.launch; \
	else \
		echo "No display found: napari needs a screen. For the headless demo run 'make demo'"; \
		echo "(trains SSDGL on the synthetic scene and writes the model, metrics and class map to runs/demo)."; \
	fi

demo: venv
	$(VENV)/bin/napari-ssdgl demo --out runs/demo

lint: venv
	$(VENV)/bin/ruff check napari_ssdgl tests benchmarks scripts

# Xvfb and the X libraries Qt's xcb platform plugin needs (Debian/Ubuntu package names).
GUI_DEBS := xvfb xauth libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0 \
	libxcb-render-util0 libxcb-xinerama0 libxcb-xkb1 libxkbcommon-x11-0 libxcb-shape0 \
	libxcb-xfixes0 libxcb-cursor0 libgl1 libegl1 libfontconfig1 libdbus-1-3

gui-deps:
	@if ! command -v xvfb-run >/dev/null 2>&1 || ! ldconfig -p | grep -q libxcb-icccm.so.4; then \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq $(GUI_DEBS); \
		else echo "GUI tests need Xvfb and Qt's X libraries: sudo apt-get install $(GUI_DEBS)"; exit 1; fi; \
	fi

test: venv lint gui-deps
	QT_QPA_PLATFORM=xcb xvfb-run -a -s "-screen 0 1600x1000x24" $(PY) -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
