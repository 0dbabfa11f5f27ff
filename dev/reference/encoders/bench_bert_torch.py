"""PyTorch fp32 CPU baseline for `ragtune embed bench` and `ragtune bench embed`: a BERT forward (the same plain
implementation as bert_golden.py, float32) at a preset shape, or the shape of a model folder's config.json, on a
batch of equal-length inputs (padded batch as HF runs it), plus the latency of one short query.

Usage: /usr/bin/python3 bench_bert_torch.py [--preset minilm|bge-small | --config DIR/config.json] [--inputs 32]
       [--tokens 128] [--threads 2] [--runs 3] [--query-tokens 16] [--query-runs 20] [--json]
"""
import argparse
import json
import statistics
import time

import numpy as np
import torch

import bert_golden as ref

PRESETS = {
    "minilm": dict(vocab_size=30522, hidden_size=384, num_hidden_layers=6, num_attention_heads=12, intermediate_size=1536,
                   max_position_embeddings=512, type_vocab_size=2, layer_norm_eps=1e-12),
    "bge-small": dict(vocab_size=30522, hidden_size=384, num_hidden_layers=12, num_attention_heads=12, intermediate_size=1536,
                      max_position_embeddings=512, type_vocab_size=2, layer_norm_eps=1e-12),
}
KEYS = ["vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
        "max_position_embeddings", "type_vocab_size", "layer_norm_eps"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="minilm")
    ap.add_argument("--config")
    ap.add_argument("--inputs", type=int, default=16)
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--query-tokens", type=int, default=16)
    ap.add_argument("--query-runs", type=int, default=20)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    if a.config:
        with open(a.config) as f:
            cfg = json.load(f)
        c = {k: cfg.get(k, PRESETS["minilm"][k]) for k in KEYS}
    else:
        c = PRESETS[a.preset]
    w = {k: v.float() for k, v in ref.weights(c, 1, False).items()}
    rng = np.random.default_rng(0)
    hi = min(29000, c["vocab_size"])
    batch = [([101] + rng.integers(104, hi, a.tokens - 2).tolist() + [102], None) for _ in range(a.inputs)]
    query = [([101] + rng.integers(104, hi, a.query_tokens - 2).tolist() + [102], None)]
    with torch.no_grad():
        ref.forward(w, c, batch[:2])
        best = float("inf")
        for _ in range(a.runs):
            t = time.perf_counter()
            ref.forward(w, c, batch)
            best = min(best, time.perf_counter() - t)
        lat = []
        for _ in range(a.query_runs + 2):
            t = time.perf_counter()
            ref.forward(w, c, query)
            lat.append(time.perf_counter() - t)
        query_ms = statistics.median(lat[2:]) * 1000
    n = a.inputs * a.tokens
    if a.json:
        print(json.dumps({"torch": torch.__version__, "passages_per_second": a.inputs / best, "tokens_per_second": n / best,
                          "query_ms": query_ms, "threads": a.threads}))
        return
    print(f"torch fp32 {a.config or a.preset}: {a.inputs} inputs ({n} tokens) in {best * 1000:.0f} ms best of {a.runs}: "
          f"{a.inputs / best:.1f} inputs/s, {n / best:.0f} tokens/s, query ({a.query_tokens} tokens) {query_ms:.1f} ms median, {a.threads} threads")


if __name__ == "__main__":
    main()
