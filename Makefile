# The two commands: `make run` and `make test`. Both create .venv (Python 3.11) with the pinned
# dependencies when it is missing or older than the requirement files.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DATA_ROOT ?=
PRESET ?= smoke
GPUS ?=
RUN_DIR ?= runs/$(shell date +%Y%m%d-%H%M%S)

.PHONY: run test venv gpu-check clean-venv

venv: $(STAMP)

$(STAMP): requirements.txt requirements-nodeps.txt constraints.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=23"
	$(BIN)/python -m pip install --quiet -r requirements.txt -c constraints.txt
	# gluoncv without its declared GUI opencv-python (it would share cv2/ with the headless build)
	$(BIN)/python -m pip install --quiet --no-deps -r requirements-nodeps.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	# papermill runs notebooks in this venv's kernel
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $@

test: $(STAMP)
	$(BIN)/python -m pytest

# The whole course: every notebook through papermill into $(RUN_DIR) (toy data unless DATA_ROOT is set).
run: $(STAMP)
	$(BIN)/python -m mtcnn_gluon course run --run-dir $(RUN_DIR) --preset $(PRESET) \
		$(if $(DATA_ROOT),--data-root $(DATA_ROOT)) $(if $(GPUS),--gpus $(GPUS))

# GPU variant (CUDA 11 wheels from PyPI); run on a machine with an NVIDIA GPU.
gpu-check: $(STAMP)
	$(BIN)/python -m pip install --quiet -r requirements-gpu.txt
	# mxnet-cu117 does not bundle CUDA: point the loader at the nvidia-*-cu11 wheels' lib/ folders
	LD_LIBRARY_PATH="$$(ls -d $(VENV)/lib/python*/site-packages/nvidia/*/lib | paste -sd:):$$LD_LIBRARY_PATH" \
		$(BIN)/python -m mtcnn_gluon gpu check

clean-venv:
	rm -rf $(VENV)
