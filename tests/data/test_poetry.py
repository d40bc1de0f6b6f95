"""The classical-poetry corpus: conversion, dedup, the split by poem group, the reader, npm."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from ernie3_lite import DATA_SAMPLES
from ernie3_lite.data import build, poetry
from ernie3_lite.data.__main__ import main
from ernie3_lite.data.formats import DataFormatError
from ernie3_lite.data.poetry import Poem, read_poems
from ernie3_lite.tokenization import UNK_TOKEN, CharTokenizer

SPLITS = ("train", "valid", "test")
opencc = pytest.importorskip("opencc", reason="pip install -e '.[corpora]'")


@pytest.fixture(scope="module")
def shipped():
    return {s: read_poems(DATA_SAMPLES / "poetry" / f"{s}.jsonl") for s in SPLITS}


def test_opencc_converts_real_traditional_lines():
    clean = poetry.simplifier()
    # 太宗皇帝《帝京篇》, 李白《独坐敬亭山》, 李从周《清平乐》 as the package ships them
    assert clean("秦川雄帝宅，函谷壯皇居。") == "秦川雄帝宅,函谷壮皇居。"
    assert clean("衆鳥高飛盡，孤雲獨去閒。") == "众鸟高飞尽,孤云独去闲。"
    assert clean("夢魂尋遍。  忽向尊前見。") == "梦魂寻遍。 忽向尊前见。"


def _tarball(path: Path, members: dict[str, object]) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for name, data in members.items():
            raw = json.dumps(data, ensure_ascii=False).encode("utf-8")
            info = tarfile.TarInfo(f"package/dist/{name}")
            info.size = len(raw)
            archive.addfile(info, io.BytesIO(raw))
    return path


def test_read_package_converts_drops_flagged_and_folds_duplicates(tmp_path):
    tang = [{"id": "a", "title": "獨坐敬亭山", "author": "李白",
             "paragraphs": ["衆鳥高飛盡，孤雲獨去閒。", "相看兩不厭，只有敬亭山。"]},
            {"id": "b", "title": "存目", "author": "某", "paragraphs": ["（以上整理）。"]}]
    song = [{"id": "c", "title": "独坐敬亭山", "author": "李白",  # simplified copy, other commas
             "paragraphs": ["众鸟高飞尽;孤云独去闲。", "相看两不厌;只有敬亭山。"]}]
    mengxue = {"title": "千家詩", "content": [{"type": "七言", "content": [
        {"chapter": "曲江", "author": "杜甫", "paragraphs": [
            {"subchapter": "其一", "paragraphs": ["一片花飛減卻春，風飄萬點正愁人。"]}]}]}]}
    tarball = _tarball(tmp_path / "p.tgz", {
        "quantangshi/poet.tang.0.json": tang, "quantangshi/poet.song.0.json": song,
        "quantangshi/error/poet.tang.0.json": [{"id": "b"}], "mengxue/qianjiashi.json": mengxue,
        "yudingquantangshi/0.json": tang,  # not read
    })
    poems, stats = poetry.read_package(tarball)
    assert [(p.poem_id, p.title, p.dynasty, p.genre) for p in poems] == [
        ("a", "独坐敬亭山", "唐", "shi"),
        ("mengxue/qianjiashi.json#0", "千家诗·曲江·其一", "", "mengxue")]
    assert poems[0].paragraphs == ("众鸟高飞尽,孤云独去闲。", "相看两不厌,只有敬亭山。")
    assert (stats.flagged, stats.duplicates, stats.read["shi"]) == (1, 1, 3)


def _poem(n: int, *lines: str) -> Poem:
    return Poem(f"p{n}", f"t{n}", "", "唐", "shi", tuple(f"{line}。" for line in lines))


def test_poems_sharing_a_line_share_a_split_and_the_split_is_deterministic():
    poems = [_poem(n, f"{n:05d}春风又绿江", f"白日依山尽{n:04d}") for n in range(400)]
    poems += [_poem(1000 + n, f"{n:05d}春风又绿江", "另一句诗文在") for n in range(0, 400, 7)]
    first, second = poetry.split_poems(poems), poetry.split_poems(list(reversed(poems[:])))
    assert first == poetry.split_poems(poems)  # the same input, the same files
    where = {p.poem_id: s for s, part in first.items() for p in part}
    assert all(where[f"p{1000 + n}"] == where[f"p{n}"] for n in range(0, 400, 7))
    assert {len(part) > 0 for part in first.values()} == {True}
    assert sum(map(len, second.values())) == len(poems)


def test_shipped_slice_has_no_poem_or_line_in_two_splits(shipped):
    keys = {s: {p.key() for p in part} for s, part in shipped.items()}
    assert not (keys["train"] & keys["valid"] or keys["train"] & keys["test"]
                or keys["valid"] & keys["test"])
    train_lines = {line for p in shipped["train"] for line in p.lines()
                   if len(line) >= poetry.MIN_SHARED_LINE}
    for split in ("valid", "test"):
        assert not any(line in train_lines for p in shipped[split] for line in p.lines())
    genres = {p.genre for p in shipped["train"]}
    assert genres == set(poetry.GENRES) and 250 <= len(shipped["train"]) <= 300


def test_reader_names_file_and_line(tmp_path):
    good = json.dumps(_poem(1, "白日依山尽").to_json(), ensure_ascii=False)
    cases = {"{not json": "invalid JSON", '["a"]': "got list", '{"id": "x"}': "missing",
             good.replace('"shi"', '"fu"'): "genre 'fu'",
             good.replace('["白日依山尽。"]', "[]"): "non-empty list"}
    for bad, reason in cases.items():
        path = tmp_path / "poems.jsonl"
        path.write_text(f"{good}\n\n{bad}\n", encoding="utf-8")
        with pytest.raises(DataFormatError, match=reason) as err:
            read_poems(path)
        assert str(err.value).startswith(f"{path}:3: ")
    assert read_poems(_write(tmp_path, good))[0].title == "t1"


def _write(tmp_path: Path, line: str) -> Path:
    path = tmp_path / "ok.jsonl"
    path.write_text(line + "\n", encoding="utf-8")
    return path


def test_missing_npm_says_what_to_install(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))  # no npm on it
    with pytest.raises(poetry.PoetryUnavailable, match="npm not found on PATH: install it"):
        poetry.fetch(tmp_path / "cache")
    logged = []
    assert build.load_poetry("auto", tmp_path / "cache", logged.append) is None
    assert logged == [f"poetry skipped: {poetry.NPM_MISSING}"]
    assert build.load_poetry("skip", tmp_path / "cache", logged.append) is None
    with pytest.raises(poetry.PoetryUnavailable):
        build.load_poetry("require", tmp_path / "cache", logged.append)
    monkeypatch.setattr(build, "load_sources", lambda *a: pytest.fail("must not read sources"))
    monkeypatch.setattr(build, "build", _raise_unavailable)
    with pytest.raises(SystemExit) as done:
        main(["build", "--out", str(tmp_path / "out"), "--poetry", "require"])
    assert done.value.code == 1 and "npm not found" in capsys.readouterr().err


def _raise_unavailable(*args, **kwargs):
    raise poetry.PoetryUnavailable(poetry.NPM_MISSING)


def test_poetry_vocab_keeps_every_id_of_the_shipped_vocab_and_covers_poems(shipped):
    base = CharTokenizer.from_file(DATA_SAMPLES / "vocab.txt")
    extended = CharTokenizer.from_file(DATA_SAMPLES / "vocab_poetry.txt")
    assert extended.tokens[: base.vocab_size - 1] == base.tokens[:-1]
    assert extended.tokens[-1] == UNK_TOKEN and extended.vocab_size == build.VOCAB_MAX_SIZE
    ids = [i for part in shipped.values() for p in part for i in extended.encode(p.text())]
    old = [i for part in shipped.values() for p in part for i in base.encode(p.text())]
    assert ids.count(extended.unk_id) / len(ids) < 0.01 < 0.02 < old.count(base.unk_id) / len(old)


def test_poetry_share_adds_poems_to_the_lm_text_only():
    from ernie3_lite.data.corpus import PretrainingCorpus
    from ernie3_lite.training.datamodule import Ernie3DataModule

    vocab = CharTokenizer.from_file(DATA_SAMPLES / "vocab_poetry.txt")
    news = PretrainingCorpus(DATA_SAMPLES, tokenizer=vocab)
    mixed = PretrainingCorpus(DATA_SAMPLES, tokenizer=vocab, poetry_share=0.25)
    assert news.lm_documents is news.document_sentences and not news.poem_sentences
    assert mixed.document_sentences == news.document_sentences  # SR and SD stay on news
    chars = sum(len("".join(d)) for d in mixed.poem_sentences)
    news_chars = sum(len("".join(d)) for d in news.document_sentences)
    assert 0.25 * news_chars <= chars < 0.25 * news_chars + 2000
    lm = mixed.lm_documents
    assert len(lm) == len(news.document_sentences) + len(mixed.poem_sentences)
    where = [i for i, doc in enumerate(lm) if doc in mixed.poem_sentences]
    assert where[0] < len(lm) // 10 and where[-1] > len(lm) * 9 // 10  # spread, not appended
    assert len(mixed.document_tokens()) == len(lm)
    assert Ernie3DataModule(poetry_share=0.25).vocab_size == vocab.vocab_size
    assert Ernie3DataModule().vocab_size == CharTokenizer.from_file(
        DATA_SAMPLES / "vocab.txt").vocab_size
    with pytest.raises(ValueError, match="poetry_share"):
        Ernie3DataModule(poetry_share=-1)
