"""The index's search through Milvus Lite (a real one, in a file per test module): the same hits and answers
as the local store, filters as Milvus expressions, adds and deletes kept in step, a half-done push finished
at the next open, and bad addresses refused in one line."""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys

import pytest

import qa
from qa.index import milvus
from qa.intake.corpus import make_document, read_folder

from .conftest import CARD_QUESTION, ROOT, SEEDS, app_server
from .test_filters import DATED

GOLD = [json.loads(line) for line in (ROOT / "eval" / "gold_seeds.jsonl").read_text(encoding="utf-8").splitlines() if line]


@pytest.fixture(scope="module")
def lite(settings, tmp_path_factory):
    """Settings whose store is a fresh Milvus Lite file; its client is closed at the end."""
    s = dataclasses.replace(settings, store=f"milvus:{tmp_path_factory.mktemp('milvus') / 'qa.db'}")
    yield s
    milvus.close(s)


@pytest.fixture(scope="module")
def through_milvus(seed_index, lite, tmp_path_factory):
    path = tmp_path_factory.mktemp("milvus-index") / "seeds"
    shutil.copytree(seed_index.path, path)
    return qa.load(path, lite)


def _hits(hits):
    return [(h.doc_id, h.start, h.end, h.bm25_rank, h.dense_rank) for h in hits]


def _count(idx) -> int:
    c = milvus.client(idx.settings)
    return c.query(idx.retriever.collection(), filter="", output_fields=["count(*)"])[0]["count(*)"]


def test_the_same_hits_and_answers_as_the_local_store(seed_index, through_milvus):
    assert _count(through_milvus) == len(seed_index.chunks)
    for g in GOLD:
        for mode in qa.MODES:
            assert _hits(through_milvus.search(g["question"], 5, mode)) == _hits(seed_index.search(g["question"], 5, mode)), (g["id"], mode)
        assert through_milvus.ask(g["question"]).to_dict() == seed_index.ask(g["question"]).to_dict(), g["id"]
    assert through_milvus.ask(CARD_QUESTION).text == "3 tỷ đồng"


def test_milvus_fusion_ranks_the_same_chunks(seed_index, through_milvus):
    """hybrid_search with RRFRanker(rrf_k) fuses as fuse.rrf does with both weights 1 (no ranks kept)."""
    fused = dataclasses.replace(through_milvus, settings=dataclasses.replace(through_milvus.settings, milvus_fusion="milvus"))
    for g in GOLD:
        theirs, ours = fused.search(g["question"], 20), seed_index.search(g["question"], 20)
        same = lambda hits: sorted((-round(h.score, 4), h.doc_id, h.start) for h in hits)[:5]  # noqa: E731 - ties in any order
        assert same(theirs) == same(ours), g["id"]
        assert all(h.bm25_rank is None and h.dense_rank is None for h in theirs)


def test_filters_become_milvus_expressions(settings, lite):
    docs = []
    for d in read_folder(SEEDS):
        date, source, category = DATED.get(d.id[:3], ("", "", ""))
        docs.append(dataclasses.replace(d, date=date, source=source, meta={"category": category} if category else {}))
    local, remote = qa.build_index(docs, settings=settings), qa.build_index(docs, settings=lite)
    q = "Hà Nội hợp tác với các tỉnh"
    for f in [{"since": "2019-03-01", "until": "2019-04-30"}, {"source": "báo vĩnh phúc"}, {"source": "BÁO VĨNH PHÚC"},
              {"category": ["thời sự", "Du lịch"]}, {"since": "2000-01-01"}, {"since": "2030-01-01"},
              {"doc_ids": [d.id for d in docs if d.id.startswith("000")]}, {"source": 'Báo "Hà Nội" \\ Mới'}]:
        for mode in qa.MODES:
            assert _hits(remote.search(q, 10, mode, f)) == _hits(local.search(q, 10, mode, f)), (f, mode)
    assert remote.ask("Hà Nội tặng Vĩnh Phúc bao nhiêu tiền?", filters={"source": "VnExpress"}).text != "3 tỷ đồng"


ARTICLE = ("Đà Lạt đón 8,3 triệu lượt khách trong năm 2024\n\nTheo Sở Du lịch tỉnh Lâm Đồng, năm 2024 thành phố "
           "Đà Lạt đón khoảng 8,3 triệu lượt khách, tăng 12% so với năm trước. Khách quốc tế đạt 650.000 lượt, chủ "
           "yếu đến từ Hàn Quốc và Trung Quốc. Doanh thu du lịch ước đạt 21.000 tỷ đồng.\n\nUBND TP. Đà Lạt cho biết "
           "sẽ mở thêm các tuyến xe buýt điện nối trung tâm với các khu du lịch ngoại ô và cải tạo chợ đêm.")
QUESTION = "Đà Lạt đón bao nhiêu lượt khách năm 2024?"


def _same(a, b, exact: bool) -> bool:
    """The same hits; with BM25 rows of an avgdl up to 2 % off, the same best hit and nearly the same five."""
    if exact:
        return _hits(a) == _hits(b)
    return _hits(a)[:1] == _hits(b)[:1] and len({h.start for h in a} & {h.start for h in b}) >= len(b) - 1


@pytest.mark.parametrize("drift", [0.02, 0.0], ids=["kept", "rewritten"])
def test_adds_deletes_and_sync_follow_in_milvus(seed_index, settings, lite, tmp_path, drift):
    """drift 0: every change of avgdl writes the BM25 rows again, and results are exactly the local store's."""
    s = dataclasses.replace(lite, milvus_avgdl_drift=drift)
    path = tmp_path / "index"
    shutil.copytree(seed_index.path, path)
    idx = qa.load(path, s)
    grown = idx.add([make_document("999_new", ARTICLE)])
    grown.save(path)
    local = qa.load(path, settings)
    assert _count(grown) == len(local.chunks)
    q, exact = QUESTION, drift == 0
    assert _same(qa.load(path, s).search(q, 5), local.search(q, 5), exact)
    assert qa.load(path, s).ask(q).text == local.ask(q).text == "8,3 triệu lượt khách"
    shrunk = qa.load(path, s).add([], remove=["999_new", seed_index.docs[0].id])
    shrunk.save(path)
    local = qa.load(path, settings)
    assert _count(shrunk) == int(local.live.sum())
    again = qa.load(path, s)
    assert {h.doc_id for h in again.search(q, 50)} <= {d.id for d in local.docs}
    assert _same(again.search(q, 5), local.search(q, 5), exact)
    assert _same(again.optimize().search(q, 5), local.search(q, 5), exact)  # a merge keeps the chunks' keys
    milvus.drop(again)


def test_a_change_milvus_missed_is_pushed_at_the_next_open(seed_index, settings, lite, tmp_path):
    """The folder changed without Milvus (a crash between the two, or a run with the local store): opening
    it with Milvus brings the collection in step before the first search."""
    path = tmp_path / "index"
    shutil.copytree(seed_index.path, path)
    assert _count(qa.load(path, lite)) == len(seed_index.chunks)
    qa.load(path, settings).add([make_document("999_new", ARTICLE)]).save(path)  # local only
    idx = qa.load(path, lite)
    assert idx.search(QUESTION, 1)[0].doc_id == "999_new"
    assert _count(idx) == len(qa.load(path, settings).chunks)


def _cli(args, env):
    return subprocess.run([sys.executable, "-m", "qa", *args], cwd=ROOT, env={**os.environ, **env},
                          capture_output=True, text=True, timeout=600)


def test_the_cli_over_milvus_lite_and_bad_stores(seed_index, tmp_path):
    index, db = tmp_path / "index", tmp_path / "cli.db"
    shutil.copytree(seed_index.path, index)
    env = {"QA_INDEX_DIR": str(index), "QA_STORE": f"milvus:{db}"}
    run = _cli(["index"], env)
    assert run.returncode == 0, run.stderr
    run = _cli(["ask", CARD_QUESTION, "--json"], env)
    assert run.returncode == 0 and json.loads(run.stdout)["text"] == "3 tỷ đồng", run.stderr
    for store, says in [("milvus:" + str(tmp_path / "x.txt"), "needs a file ending in .db"),
                        ("mongodb://x", "store must be local, milvus:PATH.db or http://HOST:19530"),
                        ("http://127.0.0.1:1", "cannot open Milvus at http://127.0.0.1:1")]:
        run = _cli(["search", CARD_QUESTION], {**env, "QA_STORE": store, "QA_MILVUS_TIMEOUT": "3"})
        assert run.returncode == 2 and says in run.stderr and "Traceback" not in run.stderr, (store, run.stderr)


def test_the_json_api_over_milvus_lite(seed_index, tmp_path):
    """The server's index searched through Milvus: answers, and an article added and removed through the API."""
    from .test_api import call

    with app_server(seed_index.path, tmp_path, QA_STORE=f"milvus:{tmp_path / 'api.db'}") as url:
        status, ans = call(url + "api/ask", "POST", {"question": CARD_QUESTION})
        assert status == 200 and ans["text"] == "3 tỷ đồng"
        record = {"id": "da-lat-2024", "title": ARTICLE.split("\n")[0], "text": ARTICLE, "source": "Báo Lâm Đồng Mẫu"}
        assert call(url + "api/documents", "POST", {"records": [record]})[1][0]["status"] == "added"
        status, ans = call(url + "api/ask", "POST", {"question": QUESTION, "filters": {"source": "báo lâm đồng mẫu"}})
        assert ans["text"] == "8,3 triệu lượt khách" and ans["citations"][0]["doc_id"] == "da-lat-2024"
        assert call(url + "api/documents/da-lat-2024", "DELETE")[0] == 200
        hits = call(url + "api/search", "POST", {"question": QUESTION, "k": 20})[1]
        assert hits and "da-lat-2024" not in {h["doc_id"] for h in hits}


def test_an_article_removed_and_added_again_is_found(seed_index, settings, lite, tmp_path):
    """Its dead copy (until a merge) and its live one share chunk keys: the live one answers."""
    path = tmp_path / "index"
    shutil.copytree(seed_index.path, path)
    doc, other = make_document("999_new", ARTICLE), make_document("999_other", "Tin khác\n\nHuế mưa lớn suốt ba ngày.")
    for change in ({"docs": [doc, other]}, {"docs": [], "remove": ["999_new"]}, {"docs": [doc]}):
        qa.load(path, lite).add(change["docs"], change.get("remove", ())).save(path)
    idx = qa.load(path, lite)
    assert len(idx.segments) == 3 and idx.search(QUESTION, 1)[0].doc_id == "999_new"
    assert _hits(idx.search(QUESTION, 5)) == _hits(qa.load(path, settings).search(QUESTION, 5))


def test_an_older_version_being_read_never_turns_the_collection_back(seed_index, lite, tmp_path):
    path = tmp_path / "index"
    shutil.copytree(seed_index.path, path)
    old = qa.load(path, lite)  # not searched yet: its collection not ensured
    new = qa.load(path, lite).add([make_document("999_new", ARTICLE)])
    new.save(path)
    assert old.search(QUESTION, 5)  # served from the collection as it is
    assert _count(new) == len(new.chunks)  # still the new version's rows


def test_milvus_down_at_a_save_keeps_the_folder_and_says_so(seed_index, settings, tmp_path, caplog):
    path = tmp_path / "index"
    shutil.copytree(seed_index.path, path)
    down = dataclasses.replace(settings, store="http://127.0.0.1:1", milvus_timeout=2)
    qa.load(path, down).add([make_document("999_new", ARTICLE)]).save(path)  # no exception
    assert "is saved, and its next open brings Milvus in step" in caplog.text
    assert "999_new" in {d.id for d in qa.load(path, settings).docs}


@pytest.mark.parametrize("name, value", [("milvus_batch_rows", 0), ("milvus_timeout", 0), ("milvus_avgdl_drift", -1),
                                         ("ray_start_seconds", 0), ("llm_backoff_seconds", -1)])
def test_bad_scale_out_settings_are_refused_naming_them(name, value):
    with pytest.raises(ValueError, match=name):
        qa.Settings(**{name: value})
