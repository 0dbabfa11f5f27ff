"""Gradients of the contrastive (InfoNCE) loss through a tiny random BERT sentence encoder, with torch autograd in
float64, for the C# encoder backward (BertTrainingSession + InfoNceLoss).

The forward pass is bert_golden.py's (padded batch, additive mask on padding keys, exact-erf GELU, post-LayerNorm),
over the same deterministic random weights as the C# BertRandomWriter (no weights are committed). On top of it:
sentence-transformers pooling (masked mean, or the [CLS] state), L2 normalisation, and MultipleNegativesRankingLoss
(InfoNCE with in-batch negatives plus hard negatives): logits = q @ p.T / tau, cross-entropy against each query's
positive, with passages marked "excluded" for a query (copies of one of its positives) left out of its softmax.

Usage (from dev/reference/encoders):
    /usr/bin/python3 bert_backward_golden.py ../golden/bert_backward.json
"""
import json
import sys

import torch

from bert_golden import forward, normalize, weights

CONFIG = dict(vocab_size=112, hidden_size=8, num_hidden_layers=2, num_attention_heads=2, intermediate_size=16,
              max_position_embeddings=16, type_vocab_size=2, layer_norm_eps=1e-12)
SEED = 3
TEMPERATURE = 0.05

# [CLS]=101, [SEP]=102. Queries, then passages: positives of queries 0..2, then two hard negatives.
QUERIES = [([101, 105, 106, 102], None), ([101, 107, 102], None), ([101, 108, 109, 110, 111, 102], None)]
PASSAGES = [([101, 105, 20, 21, 22, 106, 102], None),
            ([101, 30, 107, 31, 102], None),
            ([101, 108, 40, 109, 41, 110, 42, 111, 43, 102], None),
            ([101, 50, 51, 102, 52, 53, 102], [0, 0, 0, 0, 1, 1, 1]),
            ([101, 105, 60, 102], None)]
TARGETS = [0, 1, 2]
EXCLUDED = [(0, 4)]  # passage 4 counts as another positive of query 0


def pool(x, mask, mode):
    if mode == "cls":
        return x[:, 0]
    return (x * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)


def case(mode):
    w = weights(CONFIG, SEED, False)
    names = [n for n in w if not n.startswith("pooler.")]
    for n in names:
        w[n].requires_grad_(True)
    xq, mq = forward(w, CONFIG, QUERIES)
    xp, mp = forward(w, CONFIG, PASSAGES)
    q = normalize(pool(xq, mq, mode))
    p = normalize(pool(xp, mp, mode))
    logits = q @ p.T / TEMPERATURE
    for i, j in EXCLUDED:
        logits = logits.index_put((torch.tensor([i]), torch.tensor([j])), torch.tensor([-float("inf")], dtype=logits.dtype))
    loss = torch.nn.functional.cross_entropy(logits, torch.tensor(TARGETS))
    loss.backward()
    return {"pooling": mode, "normalize": True, "loss": float(loss),
            "grads": {n: [float("%.8g" % v) for v in w[n].grad.flatten().tolist()] for n in names}}


def main():
    doc = {"source": "dev/reference/encoders/bert_backward_golden.py", "config": CONFIG, "seed": SEED, "temperature": TEMPERATURE,
           "queries": [{"ids": ids, "type_ids": ty} for ids, ty in QUERIES],
           "passages": [{"ids": ids, "type_ids": ty} for ids, ty in PASSAGES],
           "targets": TARGETS, "excluded": EXCLUDED, "cases": [case("mean"), case("cls")]}
    with open(sys.argv[1], "w") as f:
        json.dump(doc, f, separators=(",", ":"))
    print(f"wrote {sys.argv[1]}")


if __name__ == "__main__":
    main()
