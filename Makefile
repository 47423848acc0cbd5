# Two commands do all the set-up on a fresh machine:
#   make run    create .venv, install, build the index of corpus/, start the chat UI
#   make test   create .venv, install, run the test suite and the evaluation gate
PY      ?= python3.11
VENV    ?= .venv
BIN     := $(VENV)/bin
INDEX   ?= index
HOST    ?= 127.0.0.1
PORT    ?= 7860
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: run test install index serve eval bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# torch first and pinned: 2.13.0 is a CPU build on this machine's disk; unpinned, pip pulls CUDA.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

install: $(VENV)/.installed

index: install
	$(BIN)/rag index build corpus/ $(wildcard $(INDEX)/uploads) --index $(INDEX)  # keeps files uploaded in the UI

run: index
	$(BIN)/python app.py --index $(INDEX) --host $(HOST) --port $(PORT)

test: install
	bash scripts/system-deps.sh
	$(BIN)/python -m pytest -q
	$(BIN)/rag eval run --gate --report eval/reports/ci


eval: install
	$(BIN)/rag eval run --report eval/reports/latest

bench: install
	$(BIN)/python eval/bench/run.py

clean:
	rm -rf $(VENV) $(INDEX) .pytest_cache
