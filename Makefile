# Two commands on a fresh machine (python3 >= 3.11, make, git): `make run` and `make test`.
PY ?= python3
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
QUESTION ?= Hà Nội tặng Vĩnh Phúc bao nhiêu tiền?
QA_DATA_DIR ?= ../shared/data
XQUAD ?= $(QA_DATA_DIR)/xquad.vi.json
NEWS ?= $(QA_DATA_DIR)/vn_news.jsonl.gz
READERS ?= learned rules

.PHONY: run ask test install install-test index index-archive doctor bench bench-segments bench-milvus bench-milvus-large bench-cluster bench-generate eval eval-xquad eval-news eval-dated eval-reader train-reader train-reader-news clean

# What each command needs: `make run` the runtime (the page is part of it); `make test` adds the test extras
# (Milvus Lite, Ray, the llama.cpp server and its model, playwright, schemathesis, the BM25 references).
install: $(STAMP)
install-test: $(TEST_STAMP)

# torch first: the pinned 2.13.0 is a local CPU build; letting a dependency pull it would fetch CUDA wheels.
$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e .
	touch $(STAMP)

$(TEST_STAMP): $(STAMP)
	$(BIN)/pip install -q -e '.[test]'
	touch $(TEST_STAMP)

# The chat page (builds the index and the model cache first if needed); HOST=0.0.0.0 PORT=8080 to change.
run: $(STAMP)
	$(BIN)/python app.py $(if $(HOST),--host $(HOST)) $(if $(PORT),--port $(PORT))

ask: $(STAMP)
	$(BIN)/python -m qa ask "$(QUESTION)"

# The browser tests drive Debian's Chromium.
$(CHROMIUM):
	$(SUDO) apt-get update -qq
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium

index: $(STAMP)
	$(BIN)/python -m qa index

doctor: $(STAMP)
	$(BIN)/python -m qa doctor

test: $(TEST_STAMP) $(CHROMIUM)
	$(BIN)/python -m pytest -q

eval: $(STAMP)
	$(BIN)/python -m eval --mode hybrid bm25 dense --reader $(READERS) --out out/eval

eval-xquad: $(STAMP)
	$(BIN)/python -m eval --xquad $(XQUAD) --mode hybrid bm25 dense --reader $(READERS) --out out/eval-xquad

# The hand-written gold set over the archive's first 5,000 articles (their index is built once in out/news5000).
eval-news: $(STAMP)
	$(BIN)/python -m eval --gold eval/gold_news.jsonl --jsonl $(NEWS) --limit 5000 --index out/news5000 \
		--reader $(READERS) --out out/eval-news

# A question naming a period, with and without ranking that period's articles first (hand-written dated set).
eval-dated: $(STAMP)
	QA_PERIOD_FIRST=0 $(BIN)/python -m eval --gold eval/gold_dated.jsonl --corpus eval/dated --out out/eval-dated-off
	QA_PERIOD_FIRST=1 $(BIN)/python -m eval --gold eval/gold_dated.jsonl --corpus eval/dated --out out/eval-dated-on

# The three gold sets, the learned reader beside the rules, hybrid retrieval.
eval-reader: $(STAMP)
	$(BIN)/python -m eval --reader $(READERS) --out out/eval-reader-seeds
	$(BIN)/python -m eval --xquad $(XQUAD) --reader $(READERS) --out out/eval-reader-xquad
	$(MAKE) eval-news

# The reader (qa/models/reader-squad.*): SQuAD v1.1 train (English, written by people) with SQuAD 2.0-style
# unanswerable windows, top 8 layers, about 1.5 hours; checkpoints under out/ (an interrupted run resumes),
# then the seeds figures. Commit the weights it writes.
train-reader: $(STAMP)
	$(BIN)/python -m training.train --squad 18000 --docs 0 --layers 8 --minutes 105 --out out/reader-squad \
		--weights qa/models/reader-squad.safetensors
	QA_READER_WEIGHTS=qa/models/reader-squad.safetensors $(BIN)/python -m eval --reader learned --out out/eval-reader-squad

# Measured, not shipped (docs/evaluation.md): a second stage from it on questions generated from 2,000 archive
# articles (after its first 5,000) beside 5,000 SQuAD questions drawn anew; its weights stay under out/.
train-reader-news: $(STAMP)
	$(BIN)/python -m training.train --init qa/models/reader-squad.safetensors --docs 2000 --squad 5000 --seed 1 --layers 8 \
		--lr 5e-5 --minutes 60 --out out/reader-news --weights out/reader-news/reader-news.safetensors
	QA_READER_WEIGHTS=out/reader-news/reader-news.safetensors $(BIN)/python -m eval --reader learned --out out/eval-reader-news

bench: $(TEST_STAMP)
	$(BIN)/python bench/speed.py

# The whole archive in out/newsfull (about an hour of embedding on two cores; an interrupted run resumes).
index-archive: $(STAMP)
	$(BIN)/python -m qa --index out/newsfull index --jsonl $(NEWS)

# Adding and deleting one article, 1,000 single adds beside the merged index, optimize: on a copy of the archive.
bench-segments: $(TEST_STAMP)
	$(BIN)/python bench/segments.py --index out/newsfull --out out/bench-segments.json

# Search through Milvus Lite beside the local store: the seeds gold set and XQuAD-vi (docs/scale-out.md).
bench-milvus: $(TEST_STAMP)
	$(BIN)/python bench/milvus.py --xquad $(XQUAD) --out out/bench-milvus.json

# 150,000 chunks of the archive's index (make index-archive) pushed into Milvus Lite: insert, memory, search.
bench-milvus-large: $(TEST_STAMP)
	$(BIN)/python bench/milvus.py --sets --archive out/newsfull --chunks 150000 --out out/bench-milvus-large.json

# Embedding chunks/s: one process beside Ray workers on a local two-node cluster it starts and stops.
bench-cluster: $(TEST_STAMP)
	$(BIN)/python bench/cluster.py --jsonl $(NEWS) --out out/bench-cluster.json

# Generated answers with the tests' small model (Gemma 3 270M on llama.cpp): first token, whole answer, checked share.
bench-generate: $(TEST_STAMP)
	$(BIN)/python bench/generate.py --out out/bench-generate.json

clean:
	rm -rf $(VENV) index/default *.egg-info
