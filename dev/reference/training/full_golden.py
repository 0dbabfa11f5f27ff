"""Golden full fine-tuning step from an independent PyTorch reference.

Every weight of a tiny F32 GGUF model (embeddings, norms, projections and q/k/v biases where the model has them, the
output or, when tied, the embedding's second use) requires grad; the loss is the mean cross-entropy over unmasked targets
(-1 = masked) of a fixed [B, T] batch, computed in float64 by the forward of lora_golden.py with no adapter; then one
torch.optim.AdamW step (lr 1e-3, betas 0.9/0.999, eps 1e-8, weight decay 0.01 on every tensor).

A full golden file of every gradient would be megabytes, so per parameter it records the exact sum of squared
gradients and, at 24 fixed element indices (k * 7919 + 13) mod n, the gradient and the value after the step.

Usage (from dev/reference/training):
  /usr/bin/python3 full_golden.py --model tiny-f32-1.gguf --model tiny-qwen2-f32-1.gguf --out ../golden/full_tiny.json
"""
import argparse
import hashlib
import json
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from llama_ref import LlamaRef  # noqa: E402
from lora_golden import forward_loss, r7  # noqa: E402

LAYER_KEYS = ["attn_norm", "attn_q", "attn_q.bias", "attn_k", "attn_k.bias", "attn_v", "attn_v.bias", "attn_output",
              "ffn_norm", "ffn_gate", "ffn_up", "ffn_down"]


def parameters(ref):
    """(GGUF name, tensor) in the engine's order: embedding, blocks, final norm, untied output."""
    out = [("token_embd.weight", ref.tok_embd)]
    for i, L in enumerate(ref.layers):
        for k in LAYER_KEYS:
            if k in L:
                out.append(("blk.%d.%s" % (i, k if k.endswith(".bias") else k + ".weight"), L[k]))
    out.append(("output_norm.weight", ref.out_norm))
    if not ref.tied:
        out.append(("output.weight", ref.output))
    return out


def run(path, tokens, tgts, lr, wd):
    ref = LlamaRef(path, torch.float64)
    params = parameters(ref)
    for _, t in params:
        t.requires_grad_(True)
    loss = forward_loss(ref, {}, tokens, tgts, 1, 1.0)
    loss.backward()
    grads = [t.grad.detach().clone() for _, t in params]
    opt = torch.optim.AdamW([t for _, t in params], lr=lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=wd)
    opt.step()
    with open(path, "rb") as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    rows = []
    for (name, t), g in zip(params, grads):
        flat_g, flat_v = g.flatten(), t.detach().flatten()
        n = flat_g.numel()
        idx = sorted({(k * 7919 + 13) % n for k in range(24)})
        rows.append({"name": name, "shape": list(t.shape), "grad_sum_sq": float((flat_g * flat_g).sum()),
                     "index": idx, "grad": r7(flat_g[idx].tolist()), "after_step": r7(flat_v[idx].tolist())})
    return {"file": os.path.basename(path), "sha256": sha, "lr": lr, "weight_decay": wd, "loss": float(loss), "params": rows}


def main(argv):
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", action="append", required=True, help="tiny F32 GGUF files")
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv[1:])
    B, T = 2, 8
    tokens = torch.tensor([[(37 * (b * T + t) + 11) % 512 for t in range(T)] for b in range(B)], dtype=torch.long)
    tgts = torch.tensor([[(53 * (b * T + t) + 7) % 512 for t in range(T)] for b in range(B)], dtype=torch.long)
    tgts[0, 0] = -1
    tgts[0, 3] = -1
    tgts[1, 5] = -1
    runs = [run(p, tokens, tgts, 1e-3, 0.01) for p in a.model]
    out = {"generator": "dev/reference/training/full_golden.py", "torch_version": torch.__version__, "dtype": "float64",
           "batch": B, "seq_len": T, "tokens": tokens.flatten().tolist(), "targets": tgts.flatten().tolist(), "runs": runs}
    with open(a.out, "w") as f:
        json.dump(out, f, separators=(",", ":"))
    print("wrote", a.out, os.path.getsize(a.out), "bytes;", [(r["file"], r["loss"], len(r["params"])) for r in runs])


if __name__ == "__main__":
    torch.set_num_threads(1)
    main(sys.argv)
