"""Independent BERT forward pass (plain torch, float64) over the deterministic random weights that the C#
BertRandomWriter writes, producing golden token states and pooled sentence embeddings.

Written from the BERT paper (Devlin et al. 2018) and the post-LayerNorm transformer (Vaswani et al. 2017): embeddings
(word + absolute position + token type) -> LayerNorm -> per layer: multi-head self-attention with biases and an
additive mask on padding keys, output dense + residual + LayerNorm, dense + exact-erf GELU + dense + residual +
LayerNorm. Sentence embeddings are masked means of the last layer (sentence-transformers' mean pooling), L2-normalised,
and [CLS] states L2-normalised (cls pooling). Batches are padded to the longest sequence, as HF does.

Weights: element i of the j-th tensor = center + scale * (2u - 1), u = (splitmix64((seed << 48) | (j << 32) | i) >> 40)
/ 2^24, in float32 (see BertRandomWriter.cs for the tensor order). "f16" rounds every weight to float16 first, as a
checkpoint stored in F16 does.

Usage (from dev/reference/encoders):
    /usr/bin/python3 bert_golden.py ../golden/bert_random.json
    /usr/bin/python3 bert_golden.py --check-folder DIR [--seed N]   # a folder from `ragtune embed create-random`:
        # reads its model.safetensors with a numpy reader and checks every tensor equals this generator bit for bit
"""
import json
import math
import sys

import numpy as np
import torch

CONFIG = dict(vocab_size=1024, hidden_size=384, num_hidden_layers=2, num_attention_heads=12, intermediate_size=1536,
              max_position_embeddings=512, type_vocab_size=2, layer_norm_eps=1e-12)
SEED = 7

# Inputs (ids < vocab_size). [CLS]=101, [SEP]=102 as in BERT's vocabulary.
BATCH = [
    ([101, 200, 300, 400, 102], None),
    ([101, 555, 102], None),
    ([101] + list(range(110, 170)) + [102], None),
    ([101, 102], None),
    ([101, 200, 201, 102, 300, 301, 302, 102], [0, 0, 0, 0, 1, 1, 1, 1]),
]


def splitmix64(x):
    with np.errstate(over="ignore"):
        z = x + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def tensor_values(seed, j, shape, center, scale):
    n = int(np.prod(shape))
    key = (np.uint64(seed) << np.uint64(48)) | (np.uint64(j) << np.uint64(32))
    u = (splitmix64(key | np.arange(n, dtype=np.uint64)) >> np.uint64(40)).astype(np.float32) * np.float32(2.0 ** -24)
    v = np.float32(center) + np.float32(scale) * (np.float32(2) * u - np.float32(1))
    return v.astype(np.float32).reshape(shape)


def tensor_list(c, labels=0):
    p = "bert." if labels else ""
    h, i = c["hidden_size"], c["intermediate_size"]
    wh = np.sqrt(np.float32(3) / np.float32(h))
    wi = np.sqrt(np.float32(3) / np.float32(i))
    out = [(p + "embeddings.word_embeddings.weight", (c["vocab_size"], h), 0, 0.5),
           (p + "embeddings.position_embeddings.weight", (c["max_position_embeddings"], h), 0, 0.5),
           (p + "embeddings.token_type_embeddings.weight", (c["type_vocab_size"], h), 0, 0.5),
           (p + "embeddings.LayerNorm.weight", (h,), 1, 0.2),
           (p + "embeddings.LayerNorm.bias", (h,), 0, 0.1)]
    for l in range(c["num_hidden_layers"]):
        q = f"{p}encoder.layer.{l}."
        for part in ["attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"]:
            out += [(q + part + ".weight", (h, h), 0, wh), (q + part + ".bias", (h,), 0, 0.1)]
            if part == "attention.output.dense":
                out += [(q + "attention.output.LayerNorm.weight", (h,), 1, 0.2),
                        (q + "attention.output.LayerNorm.bias", (h,), 0, 0.1)]
        out += [(q + "intermediate.dense.weight", (i, h), 0, wh), (q + "intermediate.dense.bias", (i,), 0, 0.1),
                (q + "output.dense.weight", (h, i), 0, wi), (q + "output.dense.bias", (h,), 0, 0.1),
                (q + "output.LayerNorm.weight", (h,), 1, 0.2), (q + "output.LayerNorm.bias", (h,), 0, 0.1)]
    out += [(p + "pooler.dense.weight", (h, h), 0, wh), (p + "pooler.dense.bias", (h,), 0, 0.1)]
    if labels:
        out += [("classifier.weight", (labels, h), 0, wh), ("classifier.bias", (labels,), 0, 0.1)]
    return out


def weights(c, seed, f16, labels=0):
    w = {}
    for j, (name, shape, center, scale) in enumerate(tensor_list(c, labels)):
        v = tensor_values(seed, j, shape, center, np.float32(scale))
        if f16:
            v = v.astype(np.float16)
        w[name.removeprefix("bert.")] = torch.from_numpy(v.astype(np.float64))
    return w


def layer_norm(x, w, b, eps):
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps) * w + b


def gelu(x):
    return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))


def forward(w, c, batch):
    """batch: list of (ids, type_ids). Returns hidden [B, S, H] (padded) and mask [B, S]."""
    h, nh = c["hidden_size"], c["num_attention_heads"]
    d = h // nh
    s = max(len(ids) for ids, _ in batch)
    ids = torch.zeros(len(batch), s, dtype=torch.long)
    types = torch.zeros(len(batch), s, dtype=torch.long)
    mask = torch.zeros(len(batch), s, dtype=w["embeddings.word_embeddings.weight"].dtype)
    for b, (seq, ty) in enumerate(batch):
        ids[b, :len(seq)] = torch.tensor(seq)
        if ty:
            types[b, :len(ty)] = torch.tensor(ty)
        mask[b, :len(seq)] = 1
    pos = torch.arange(s).unsqueeze(0).expand(len(batch), s)
    x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][pos] \
        + w["embeddings.token_type_embeddings.weight"][types]
    eps = c["layer_norm_eps"]
    x = layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], eps)
    additive = (1.0 - mask)[:, None, None, :] * -1e30
    lin = lambda t, n: t @ w[n + ".weight"].T + w[n + ".bias"]
    for l in range(c["num_hidden_layers"]):
        p = f"encoder.layer.{l}."
        split = lambda t: t.view(len(batch), s, nh, d).transpose(1, 2)
        q, k, v = (split(lin(x, p + "attention.self." + n)) for n in ("query", "key", "value"))
        scores = q @ k.transpose(-1, -2) / math.sqrt(d) + additive
        ctx = (torch.softmax(scores, -1) @ v).transpose(1, 2).reshape(len(batch), s, h)
        x = layer_norm(x + lin(ctx, p + "attention.output.dense"), w[p + "attention.output.LayerNorm.weight"],
                       w[p + "attention.output.LayerNorm.bias"], eps)
        f = lin(gelu(lin(x, p + "intermediate.dense")), p + "output.dense")
        x = layer_norm(x + f, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"], eps)
    return x, mask


def normalize(v):
    return v / v.norm(dim=-1, keepdim=True).clamp_min(1e-12)


def read_safetensors(path):
    """Minimal numpy safetensors reader: 8-byte LE header length, JSON header, raw little-endian data."""
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
        data = f.read()
    dtypes = {"F32": np.float32, "F16": np.float16}
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        out[name] = (info["dtype"], np.frombuffer(data[b:e], dtype=dtypes[info["dtype"]]).reshape(info["shape"]))
    return out


def check_folder(folder, seed):
    with open(folder + "/config.json") as f:
        cfg = json.load(f)
    labels = len(cfg.get("id2label", {})) if "BertForSequenceClassification" in cfg.get("architectures", []) else 0
    tensors = read_safetensors(folder + "/model.safetensors")
    expected = tensor_list(cfg, labels)
    assert [n for n, *_ in expected] == list(tensors), "tensor names or order differ"
    for j, (name, shape, center, scale) in enumerate(expected):
        dtype, got = tensors[name]
        want = tensor_values(seed, j, shape, center, np.float32(scale))
        if dtype == "F16":
            want = want.astype(np.float16)
        assert got.shape == tuple(shape) and np.array_equal(got, want), f"{name} differs"
    print(f"{folder}: {len(expected)} tensors equal the generator bit for bit")


def main():
    if sys.argv[1] == "--check-folder":
        check_folder(sys.argv[2], int(sys.argv[4]) if len(sys.argv) > 4 else 1)
        return
    out_path = sys.argv[1]
    doc = {"source": "dev/reference/encoders/bert_golden.py", "config": CONFIG, "seed": SEED,
           "inputs": [{"ids": ids, "type_ids": ty} for ids, ty in BATCH], "state_dims": 16, "results": {}}
    for name, f16 in (("f32", False), ("f16", True)):
        w = weights(CONFIG, SEED, f16)
        x, mask = forward(w, CONFIG, BATCH)
        mean = (x * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
        # Each sequence alone must give the same states as in the padded batch (padding is fully masked).
        alone, _ = forward(w, CONFIG, BATCH[2:3])
        assert torch.allclose(alone[0], x[2, :len(BATCH[2][0])], atol=1e-9)
        doc["results"][name] = {
            "mean_normalized": [[round(float(t), 7) for t in row] for row in normalize(mean)],
            "cls_normalized": [[round(float(t), 7) for t in row] for row in normalize(x[:, 0])],
            "states": [[[round(float(t), 6) for t in x[b, i, :16]] for i in range(min(3, len(ids)))] + [[round(float(t), 6) for t in x[b, len(ids) - 1, :16]]]
                       for b, (ids, _) in enumerate(BATCH)],
        }
    # Cross-encoder head (BertForSequenceClassification, 1 label as ms-marco MiniLM): pooler tanh(dense([CLS])), classifier.
    w = weights(CONFIG, SEED, False, labels=1)
    x, _ = forward(w, CONFIG, BATCH)
    pooled = torch.tanh(x[:, 0] @ w["pooler.dense.weight"].T + w["pooler.dense.bias"])
    logits = pooled @ w["classifier.weight"].T + w["classifier.bias"]
    doc["results"]["classifier_f32"] = {"logits": [round(float(t), 6) for t in logits[:, 0]]}
    with open(out_path, "w") as f:
        json.dump(doc, f, indent=1)
    print(f"wrote {out_path}")


if __name__ == "__main__":
    main()
