"""PyTorch fp32 CPU baseline for `ragtune embed bench`: a BERT forward (the same plain implementation as
bert_golden.py, float32) at a preset shape on a batch of equal-length inputs, padded batch as HF runs it.

Usage: /usr/bin/python3 bench_bert_torch.py [--preset minilm|bge-small] [--inputs 16] [--tokens 128] [--threads 2] [--runs 3]
"""
import argparse
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="minilm")
    ap.add_argument("--inputs", type=int, default=16)
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    c = PRESETS[a.preset]
    w = {k: v.float() for k, v in ref.weights(c, 1, False).items()}
    rng = np.random.default_rng(0)
    batch = [([101] + rng.integers(1000, 29000, a.tokens - 2).tolist() + [102], None) for _ in range(a.inputs)]
    with torch.no_grad():
        ref.forward(w, c, batch[:2])
        best = float("inf")
        for _ in range(a.runs):
            t = time.perf_counter()
            ref.forward(w, c, batch)
            best = min(best, time.perf_counter() - t)
    n = a.inputs * a.tokens
    print(f"torch fp32 {a.preset}: {a.inputs} inputs ({n} tokens) in {best * 1000:.0f} ms best of {a.runs}: "
          f"{a.inputs / best:.1f} inputs/s, {n / best:.0f} tokens/s, {a.threads} threads")


if __name__ == "__main__":
    main()
