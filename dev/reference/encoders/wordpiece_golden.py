"""Independent BERT basic + WordPiece tokenizer (plain Python + unicodedata) that writes golden ids.

Follows the published algorithm (Devlin et al. 2018, google-research/bert tokenization.py as described in the
paper's appendix and HF's BertNormalizer flags): clean text, isolate CJK ideographs, whitespace split, lowercase,
NFD + drop Mn (accent stripping, on when lowercasing unless told otherwise), split punctuation, then greedy
longest-match-first WordPiece with '##' continuations, [UNK] for words over 100 code points or without a match.

Usage (from dev/reference/encoders):
    /usr/bin/python3 wordpiece_golden.py --emit-table ../../../src/RagTune.Tokenizers/WordPieceTokenizer.AccentFolding.cs
    /usr/bin/python3 wordpiece_golden.py ../../../../shared/tokenizers/all-minilm-l6-v2/vocab.txt \
        ../golden/wordpiece_minilm.json
"""
import json
import sys
import unicodedata

CJK_RANGES = [(0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
              (0x2B740, 0x2B81F), (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F)]


def is_cjk(cp):
    return any(lo <= cp <= hi for lo, hi in CJK_RANGES)


def is_space(ch):
    return ch in " \t\n\r" or unicodedata.category(ch) == "Zs"


def is_control(ch):
    if ch in "\t\n\r":
        return False
    return unicodedata.category(ch).startswith("C")


def is_punct(ch):
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def basic_tokens(text, lowercase=True, strip_accents=None, chinese=True):
    cleaned = []
    for ch in text:
        cp = ord(ch)
        if cp == 0 or cp == 0xFFFD or is_control(ch):
            continue
        cleaned.append(" " if is_space(ch) else ch)
    spaced = []
    for ch in cleaned:
        if chinese and is_cjk(ord(ch)):
            spaced.extend([" ", ch, " "])
        else:
            spaced.append(ch)
    words = "".join(spaced).split()
    strip = lowercase if strip_accents is None else strip_accents
    out = []
    for w in words:
        if lowercase:
            w = w.lower()
        if strip:
            w = "".join(c for c in unicodedata.normalize("NFD", w) if unicodedata.category(c) != "Mn")
        cur = ""
        for c in w:
            if is_punct(c):
                if cur:
                    out.append(cur)
                out.append(c)
                cur = ""
            else:
                cur += c
        if cur:
            out.append(cur)
    return out


def wordpiece(word, vocab, unk="[UNK]", max_chars=100):
    if len(word) > max_chars:
        return [unk]
    pieces, start = [], 0
    while start < len(word):
        end, found = len(word), None
        while start < end:
            sub = word[start:end]
            if start > 0:
                sub = "##" + sub
            if sub in vocab:
                found = sub
                break
            end -= 1
        if found is None:
            return [unk]
        pieces.append(found)
        start = end
    return pieces


def tokenize(text, vocab):
    return [p for w in basic_tokens(text) for p in wordpiece(w, vocab)]


TEXTS = [
    "Hello, world!",
    "The quick brown fox jumps over the lazy dog.",
    "Café déjà vu: naïve façade, résumé & coöperate — Ångström Øresund ŁÓDŹ.",
    "Crème brûlée costs $12.50 (tax incl.) at 7:30pm; e-mail: a.b@c.org",
    "北京欢迎你，东京も好き。",
    "混合text与English中文",
    "Emoji test 😀👍🏽 and ♥ hearts ✓",
    "Numbers: 3.14159, 1,000,000 and 2nd-3rd 42%",
    "supercalifragilisticexpialidocious unaffable unbelievably",
    "a" * 101,
    "word " + "x" * 100,
    "Tabs\tand\nnewlines\r\nand\u00a0nbsp\u2003emspace",
    "Control\u0000chars\u0007here\ufffd",
    "Γειά σου Κόσμε, Привет мир, Ελληνικά",
    "Straße İstanbul ÆØÅ œuvre",
    "ΟΔΥΣΣΕΥΣ, ΣΑΣ. Σ Άσσος",
    "don't stop-believing... \"quoted\" [bracketed] {braced} <angled>",
    "",
    "   ",
    "Ｆｕｌｌｗｉｄｔｈ ｔｅｘｔ",
    "Zürich's Müller and Dvořák's Šárka",
    "Combining: e\u0301 a\u0308 n\u0303",
    "Hangul 한국어 텍스트 and Thai ภาษาไทย",
    "Retrieval-augmented generation (RAG) with BM25 + dense vectors.",
]


def emit_table(path):
    """Writes the C# accent-folding table: NFD minus Mn for every BMP code point whose NFD differs."""
    entries = []
    for cp in range(0x80, 0x10000):
        if 0xAC00 <= cp <= 0xD7A3 or 0xD800 <= cp <= 0xDFFF:
            continue
        d = unicodedata.normalize("NFD", chr(cp))
        if d != chr(cp):
            entries.append((cp, "".join(x for x in d if unicodedata.category(x) != "Mn")))
    esc = lambda c: "\\u%04X" % c
    # Folded strings as UTF-16 code units: some BMP compatibility ideographs fold to supplementary code points.
    units = lambda s: [int.from_bytes(s.encode("utf-16-le")[i:i + 2], "little") for i in range(0, 2 * len(s.encode("utf-16-le")) // 2, 2)]
    parts = [esc(cp) + esc(len(units(s))) + "".join(esc(u) for u in units(s)) for cp, s in entries]
    body = " +\n".join('        "' + "".join(parts[i:i + 8]) + '"' for i in range(0, len(parts), 8))
    with open(path, encoding="utf-8") as f:
        head = f.read().split("    private const string AccentFoldTable =")[0]
    with open(path, "w", encoding="utf-8") as f:
        f.write(head + "    private const string AccentFoldTable =\n" + body + ";\n}\n")
    print(f"wrote {len(entries)} entries to {path}")


def main():
    if sys.argv[1] == "--emit-table":
        emit_table(sys.argv[2])
        return
    vocab_path, out_path = sys.argv[1], sys.argv[2]
    with open(vocab_path, encoding="utf-8") as f:
        tokens = [line.rstrip("\n") for line in f]
    vocab = {t: i for i, t in enumerate(tokens)}
    cases = []
    for text in TEXTS:
        pieces = tokenize(text, vocab)
        cases.append({"text": text, "tokens": pieces, "ids": [vocab[p] for p in pieces]})
    pair = {"a": "What is RAG?", "b": "Retrieval-augmented generation combines search with generation."}
    pa, pb = tokenize(pair["a"], vocab), tokenize(pair["b"], vocab)
    ids = [vocab["[CLS]"]] + [vocab[p] for p in pa] + [vocab["[SEP]"]] + [vocab[p] for p in pb] + [vocab["[SEP]"]]
    pair["ids"] = ids
    pair["type_ids"] = [0] * (len(pa) + 2) + [1] * (len(pb) + 1)
    doc = {"source": "dev/reference/encoders/wordpiece_golden.py", "vocab": "all-minilm-l6-v2/vocab.txt",
           "unicodedata": unicodedata.unidata_version, "lowercase": True, "cases": cases, "pair": pair}
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=True, indent=1)
    print(f"wrote {len(cases)} cases to {out_path}")


if __name__ == "__main__":
    main()
