"""Settings: defaults, then QA_<NAME> variables with their types, then keyword overrides; bad values refused."""
from __future__ import annotations

from pathlib import Path

import pytest

from qa.config import ROOT, Settings


def test_environment_variables_apply_with_their_types():
    s = Settings.from_env(env={"QA_CHUNK_SIZE": "400", "QA_BM25_K1": "1.2", "QA_HOST": "0.0.0.0",
                               "QA_INDEX_DIR": "/srv/qa/index"})
    assert s.chunk_size == 400 and isinstance(s.chunk_size, int)
    assert s.bm25_k1 == 1.2 and isinstance(s.bm25_k1, float)
    assert s.host == "0.0.0.0" and s.index_dir == Path("/srv/qa/index")
    assert s.chunk_overlap == Settings().chunk_overlap  # the rest keep their defaults


def test_a_path_setting_expands_the_home_folder():
    assert Settings.from_env(env={"QA_CACHE_DIR": "~/qa-cache"}).cache_dir == Path.home() / "qa-cache"


def test_keyword_overrides_win_over_the_environment_and_none_is_no_override():
    env = {"QA_CHUNK_SIZE": "400", "QA_K": "7"}
    s = Settings.from_env(env=env, chunk_size=300, k=None)
    assert (s.chunk_size, s.k) == (300, 7)
    assert Settings.from_env(env={}, chunk_size="700", index_dir="~/idx").chunk_size == 700  # cast like the env
    assert Settings.from_env(env={}, index_dir="~/idx").index_dir == Path.home() / "idx"


def test_empty_environment_values_are_ignored():
    s = Settings.from_env(env={"QA_READER": "", "QA_CHUNK_SIZE": "", "QA_INDEX_DIR": ""})
    assert s == Settings()


@pytest.mark.parametrize("env, message", [
    ({"QA_CHUNK_SIZE": "big"}, "setting chunk_size expects int, got 'big'"),
    ({"QA_BM25_K1": "1,5"}, "setting bm25_k1 expects float, got '1,5'"),
    ({"QA_POOL": "2.5"}, "setting pool expects int, got '2.5'"),
    ({"QA_READER": "magic"}, "reader must be one of rules, learned, rules\\+learned, learned\\+rules, not 'magic'"),
    ({"QA_STORE": "redis://db"}, "store must be local, milvus:PATH.db or http://HOST:19530, not 'redis://db'"),
    ({"QA_EMBED_BACKEND": "tf"}, "embed_backend must be one of onnx-int8, torch, not 'tf'"),
    ({"QA_LLM_URL": "127.0.0.1:8000/v1"}, "llm_url must be an http:// or https:// base URL"),
    ({"QA_MILVUS_FUSION": "max"}, "milvus_fusion must be one of qa, milvus, not 'max'"),
    ({"QA_MERGE_FACTOR": "1"}, "merge_factor must be at least 2"),
    ({"QA_PAGE_TURNS": "0"}, "page_turns, page_conversations, .* must be at least 1"),
    ({"QA_READER_TOP_TOKENS": "0"}, "reader_top_tokens and bm25_sliced_from_chunks must be at least 1"),
    ({"QA_MAX_HISTORY": "-1"}, "max_history and page_context_chars 0 or more"),
    ({"QA_FOLLOWUP_REWRITE_SECONDS": "0"}, "followup_rewrite_seconds must be above 0"),
])
def test_a_bad_value_is_refused_saying_what_is_allowed(env, message):
    with pytest.raises(ValueError, match=message):
        Settings.from_env(env=env)


def test_an_unknown_override_is_refused():
    with pytest.raises(ValueError, match="unknown setting: chunk_sise"):
        Settings.from_env(env={}, chunk_sise=100)


def test_valid_stores_readers_and_llm_urls_pass():
    for env in [{"QA_STORE": "milvus:/tmp/qa.db"}, {"QA_STORE": "http://127.0.0.1:19530"},
                {"QA_STORE": "https://milvus.example"}, {"QA_READER": "learned+rules"},
                {"QA_EMBED_BACKEND": "torch"}, {"QA_LLM_URL": "https://llm.example/v1"}]:
        name, value = next(iter(env.items()))
        assert getattr(Settings.from_env(env=env), name.removeprefix("QA_").lower()) == value


def test_the_data_files_follow_the_data_folder():
    assert Settings().data_dir == ROOT.parent / "shared" / "data"
    s = Settings.from_env(env={"QA_DATA_DIR": "/srv/data"})
    assert s.data_dir == Path("/srv/data")
    assert (s.archive(), s.xquad(), s.squad()) == (Path("/srv/data/vn_news.jsonl.gz"), Path("/srv/data/xquad.vi.json"),
                                                    Path("/srv/data/squad-v1.1-train.json.gz"))


def test_uploads_sit_beside_the_index():
    assert Settings.from_env(env={"QA_INDEX_DIR": "/srv/qa/default"}).uploads_dir() == Path("/srv/qa/default-uploads")
    assert Settings().uploads_dir() == ROOT / "index" / "default-uploads"


def test_chunking_names_what_an_index_depends_on():
    assert Settings.from_env(env={"QA_CHUNK_SIZE": "800"}, chunk_overlap=100).chunking() == \
        {"chunk_size": 800, "chunk_overlap": 100}


def test_settings_are_given_by_name():
    """Fields are grouped by stage and new ones join their group: a positional call would bind the wrong one."""
    with pytest.raises(TypeError):
        Settings("seeds")


def test_a_module_reads_only_the_settings_it_needs_at_import(monkeypatch):
    """The data folder (and the API's limits) are read when a module is imported: another bad QA_ value must
    not fail the import; the command says what is wrong when it reads its own settings."""
    monkeypatch.setenv("QA_DATA_DIR", "/srv/tin")
    monkeypatch.setenv("QA_CHUNK_SIZE", "big")
    only = Settings.from_env_only("data_dir")
    assert only.archive() == Path("/srv/tin/vn_news.jsonl.gz") and only.chunk_size == Settings().chunk_size
    with pytest.raises(ValueError, match="chunk_size"):
        Settings.from_env()
