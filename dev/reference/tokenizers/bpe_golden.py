"""Independent byte-level BPE reference for RagTune's tokenizer tests (plain Python, no packages).

Reads a Hugging Face tokenizer.json (model.type BPE, SmolLM2's pre-tokenizer Sequence[Digits(individual_digits),
ByteLevel]) and encodes a fixed set of texts the textbook way, separately from the C# code:
  * added tokens are cut out of the text (leftmost, longest first);
  * Digits: every Unicode category N* scalar becomes its own piece;
  * ByteLevel: Python's `re` engine runs GPT-2's regex, with \\p{L}, \\p{N} and \\s spelled out as explicit
    character classes built from `unicodedata` (Python's own \\s and \\w differ from Unicode's classes);
  * each piece's UTF-8 bytes go through GPT-2's bytes_to_unicode and are merged with openai/gpt-2 encoder.py's
    loop: merge every occurrence of the lowest-ranked adjacent pair until none is in the merge list.

Usage (from dev/reference/tokenizers):
  /usr/bin/python3 bpe_golden.py ../../../../shared/tokenizers/smollm2-135m-instruct/tokenizer.json > golden/smollm2_ids.json
"""
import json
import re
import sys
import unicodedata

WHITE_SPACE = [0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x20, 0x85, 0xA0, 0x1680] + list(range(0x2000, 0x200B)) + \
    [0x2028, 0x2029, 0x202F, 0x205F, 0x3000]


def char_class(pred):
    """A regex character class body of all scalars (no surrogates) for which pred(category) holds."""
    ranges, start, prev = [], None, None
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        if pred(unicodedata.category(chr(cp))):
            if start is None:
                start = cp
            elif cp != prev + 1:
                ranges.append((start, prev))
                start = cp
            prev = cp
    if start is not None:
        ranges.append((start, prev))
    return "".join(re.escape(chr(a)) if a == b else re.escape(chr(a)) + "-" + re.escape(chr(b)) for a, b in ranges)


L = char_class(lambda c: c[0] == "L")
N = char_class(lambda c: c[0] == "N")
S = "".join(re.escape(chr(c)) for c in WHITE_SPACE)
GPT2 = re.compile(
    "'s|'t|'re|'ve|'m|'ll|'d| ?[{L}]+| ?[{N}]+| ?[^{S}{L}{N}]+|[{S}]+(?![^{S}])|[{S}]+".format(L=L, N=N, S=S))
DIGIT = re.compile("[{N}]".format(N=N))
# Llama 3 and Qwen2 (tokenizer.json Split patterns); (?i:...) only matters for the ASCII contractions.
LLAMA3_BODY = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n{L}{N}]?[{L}]+|[{N}]{{1,3}}| ?[^{S}{L}{N}]+[\\r\\n]*|[{S}]*[\\r\\n]+|[{S}]+(?![^{S}])|[{S}]+"
LLAMA3 = re.compile(LLAMA3_BODY.format(L=L, N=N, S=S))
QWEN2 = re.compile(LLAMA3_BODY.replace("{{1,3}}", "").format(L=L, N=N, S=S))


SPLIT_TEXTS = [
    "  \n\n  x\t\ty \r\n\r\n z",
    "He said: \"don't!\"\n\nOK?!\n",
    "123456789 12 1234 ½ Ⅻ ٣٤٥",
    "𝐀𝐁𝐂 bold 𝟏𝟐 math, 𠀀𠀁 ext-B",
    "a\u00a0b\u2003c\u3000d\u0085e",
    "'S 'T 'Re 'VE 'M 'LL 'D 'x",
]


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


BYTE_ENCODER = bytes_to_unicode()


def bpe(word, ranks):
    parts = list(word)
    while len(parts) > 1:
        pairs = {(parts[i], parts[i + 1]) for i in range(len(parts) - 1)}
        best = min(pairs, key=lambda p: ranks.get(p, float("inf")))
        if best not in ranks:
            break
        merged, i = [], 0
        while i < len(parts):
            if i + 1 < len(parts) and (parts[i], parts[i + 1]) == best:
                merged.append(parts[i] + parts[i + 1])
                i += 2
            else:
                merged.append(parts[i])
                i += 1
        parts = merged
    return parts


def main(path):
    tj = json.load(open(path, encoding="utf-8"))
    vocab = dict(tj["model"]["vocab"])
    merges = [tuple(m.split(" ", 1)) if isinstance(m, str) else tuple(m) for m in tj["model"]["merges"]]
    ranks = {m: i for i, m in enumerate(merges)}
    added = sorted(((a["content"], a["id"]) for a in tj["added_tokens"]), key=lambda a: -len(a[0]))
    assert [p["type"] for p in tj["pre_tokenizer"]["pretokenizers"]] == ["Digits", "ByteLevel"]

    def encode_plain(text):
        ids = []
        pieces, last = [], 0
        for m in DIGIT.finditer(text):
            pieces += [text[last:m.start()], m.group()]
            last = m.end()
        pieces.append(text[last:])
        for piece in pieces:
            for word in GPT2.findall(piece):
                mapped = "".join(BYTE_ENCODER[b] for b in word.encode("utf-8"))
                ids += [vocab[t] for t in bpe(mapped, ranks)]
        return ids

    def encode(text):
        ids, i, start = [], 0, 0
        while i < len(text):
            hit = next(((t, tid) for t, tid in added if text.startswith(t, i)), None)
            if hit:
                ids += encode_plain(text[start:i]) + [hit[1]]
                i += len(hit[0])
                start = i
            else:
                i += 1
        return ids + encode_plain(text[start:])

    texts = [
        "Hello world",
        "Hello, we can use",
        "The capital of France is Paris.",
        "def add(a, b):\n    return a + b  # sum\n\n\tprint(add(12, 345))",
        "Prices: $1,234.56 or 7890€ — 3.14159",
        "Café déjà vu, naïve façade, Ærøskøbing, Straße",
        "emoji 😀🐶👍🏽 and 🇫🇷 flags",
        "中文测试：你好，世界！日本語のテキスト。한국어",
        "   leading spaces\n\n\n   and   runs\t\t\ttabs \r\n end  ",
        "I'm sure it's they're we've you'll he'd THEY'RE",
        "<|im_start|>user\nhi<|im_end|>",
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
        "x<|endoftext|>y<|im_end|><|im_start|>",
        "",
    ]
    out = {"source": "shared/tokenizers/smollm2-135m-instruct/tokenizer.json",
           "generator": "dev/reference/tokenizers/bpe_golden.py",
           "cases": [{"text": t, "ids": encode(t)} for t in texts]}
    if len(sys.argv) > 2 and sys.argv[2] == "--splits":
        out = {"generator": "dev/reference/tokenizers/bpe_golden.py --splits",
               "cases": [{"text": t, "gpt2": GPT2.findall(t), "llama3": LLAMA3.findall(t), "qwen2": QWEN2.findall(t)}
                         for t in texts + SPLIT_TEXTS]}
    json.dump(out, sys.stdout, ensure_ascii=False, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv[1])
