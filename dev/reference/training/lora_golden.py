"""Golden LoRA gradients and one AdamW step from an independent PyTorch reference.

Reads a tiny GGUF llama through ../gguf_read.py / ../llama_ref.py (Q8_0 weights are dequantized: training runs the
frozen base in float), wraps the chosen linear layers with LoRA (y = W x + alpha/r * B (A x), no dropout), computes the
mean cross-entropy over unmasked targets (-1 = masked, torch's ignore_index) of a [B, T] batch in float64 with
autograd, the gradient of every A and B, and the parameters after one torch.optim.AdamW step.

A and B are not random: element j of parameter k (the adapter's parameter order: layer by layer, targets in
q, k, v, o, gate, up, down order, A then B) is  0.1 * sin(0.37 * j + 1.3 * k + 0.5),  so the C# test rebuilds them
from the same formula and the golden file stays small.

Usage (from dev/reference/training):
  /usr/bin/python3 lora_golden.py --model tiny-f32.gguf --model tiny-q8_0.gguf --out ../golden/lora_tiny.json
  /usr/bin/python3 lora_golden.py --qwen2 tiny-qwen2-f32.gguf --qwen2 tiny-qwen2-q8_0.gguf --out ../golden/lora_tiny_qwen2.json
"""
import argparse
import hashlib
import json
import math
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from llama_ref import LlamaRef  # noqa: E402

TARGETS = ["q", "k", "v", "o", "gate", "up", "down"]
GGUF_NAME = {"q": "attn_q", "k": "attn_k", "v": "attn_v", "o": "attn_output",
             "gate": "ffn_gate", "up": "ffn_up", "down": "ffn_down"}
PEFT = {"q": "self_attn.q_proj", "k": "self_attn.k_proj", "v": "self_attn.v_proj", "o": "self_attn.o_proj",
        "gate": "mlp.gate_proj", "up": "mlp.up_proj", "down": "mlp.down_proj"}


def formula(k, n):
    j = torch.arange(n, dtype=torch.float64)
    return 0.1 * torch.sin(0.37 * j + 1.3 * k + 0.5)


def build_adapter(ref, rank, targets):
    params = {}   # name -> tensor (requires grad)
    order = []
    k = 0
    for i, L in enumerate(ref.layers):
        for t in TARGETS:
            if t not in targets:
                continue
            out_f, in_f = L[GGUF_NAME[t]].shape
            prefix = "base_model.model.model.layers.%d.%s" % (i, PEFT[t])
            a = formula(k, rank * in_f).view(rank, in_f).clone().requires_grad_(True)
            k += 1
            b = formula(k, out_f * rank).view(out_f, rank).clone().requires_grad_(True)
            k += 1
            params[prefix + ".lora_A.weight"] = a
            params[prefix + ".lora_B.weight"] = b
            order += [prefix + ".lora_A.weight", prefix + ".lora_B.weight"]
    return params, order


def forward_loss(ref, params, tokens, targets, rank, alpha):
    scaling = alpha / rank
    B, T = tokens.shape
    hd, nh, nkv = ref.head_dim, ref.n_head, ref.n_head_kv
    group = nh // nkv
    pos = torch.arange(T)
    mask = torch.full((T, T), float("-inf"), dtype=torch.float64).triu(1)

    def lin(x, i, t, W):
        y = x @ W.T
        bias = ref.layers[i].get(GGUF_NAME[t] + ".bias")  # qwen2: q/k/v biases (frozen, outside the LoRA branch)
        if bias is not None:
            y = y + bias
        prefix = "base_model.model.model.layers.%d.%s" % (i, PEFT[t])
        if prefix + ".lora_A.weight" in params:
            A, Bm = params[prefix + ".lora_A.weight"], params[prefix + ".lora_B.weight"]
            y = y + scaling * ((x @ A.T) @ Bm.T)
        return y

    logits_all = []
    for b in range(B):
        h = ref.tok_embd[tokens[b]]
        for i, L in enumerate(ref.layers):
            x = ref.rmsnorm(h, L["attn_norm"])
            q = lin(x, i, "q", L["attn_q"]).view(T, nh, hd)
            k = lin(x, i, "k", L["attn_k"]).view(T, nkv, hd)
            v = lin(x, i, "v", L["attn_v"]).view(T, nkv, hd)
            q, k = ref.rope(q, pos), ref.rope(k, pos)
            k = k.repeat_interleave(group, dim=1)
            v = v.repeat_interleave(group, dim=1)
            att = torch.softmax(torch.einsum("thd,shd->hts", q, k) / math.sqrt(hd) + mask, dim=-1)
            o = torch.einsum("hts,shd->thd", att, v).reshape(T, nh * hd)
            h = h + lin(o, i, "o", L["attn_output"])
            x = ref.rmsnorm(h, L["ffn_norm"])
            ff = torch.nn.functional.silu(lin(x, i, "gate", L["ffn_gate"])) * lin(x, i, "up", L["ffn_up"])
            h = h + lin(ff, i, "down", L["ffn_down"])
        logits_all.append(ref.rmsnorm(h, ref.out_norm) @ ref.output.T)
    logits = torch.stack(logits_all).view(B * T, -1)
    return torch.nn.functional.cross_entropy(logits, targets.view(-1), ignore_index=-1)


def r7(xs):
    return [float("%.7g" % x) for x in xs]


def run(path, rank, alpha, targets, tokens, tgts, lr, wd):
    ref = LlamaRef(path, torch.float64)
    params, order = build_adapter(ref, rank, targets)
    loss = forward_loss(ref, params, tokens, tgts, rank, alpha)
    loss.backward()
    grads = {n: params[n].grad.detach().clone() for n in order}
    opt = torch.optim.AdamW([params[n] for n in order], lr=lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=wd)
    opt.step()
    with open(path, "rb") as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    return {
        "file": os.path.basename(path), "sha256": sha, "rank": rank, "alpha": alpha, "targets": ",".join(targets),
        "lr": lr, "weight_decay": wd, "loss": float(loss),
        "params": [{"name": n, "shape": list(params[n].shape),
                    "grad": r7(grads[n].flatten().tolist()),
                    "after_step": r7(params[n].detach().flatten().tolist())} for n in order],
    }


def main(argv):
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", action="append", default=[], help="tiny llama GGUF files (f32 first)")
    ap.add_argument("--qwen2", action="append", default=[], help="tiny qwen2 GGUF files (f32 first)")
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv[1:])
    B, T = 2, 8
    tokens = torch.tensor([[(37 * (b * T + t) + 11) % 512 for t in range(T)] for b in range(B)], dtype=torch.long)
    tgts = torch.tensor([[(53 * (b * T + t) + 7) % 512 for t in range(T)] for b in range(B)], dtype=torch.long)
    tgts[0, 0] = -1
    tgts[0, 3] = -1
    tgts[1, 5] = -1
    runs = []
    for path in a.model:
        runs.append(run(path, 2, 4.0, ["q", "v"], tokens, tgts, 1e-2, 0.01))
    if a.model:
        runs.append(run(a.model[0], 1, 2.0, TARGETS, tokens, tgts, 1e-2, 0.01))
    for path in a.qwen2:
        runs.append(run(path, 2, 4.0, ["q", "k", "v", "down"], tokens, tgts, 1e-2, 0.01))
    if a.qwen2:
        runs.append(run(a.qwen2[0], 1, 2.0, TARGETS, tokens, tgts, 1e-2, 0.01))
    out = {"generator": "dev/reference/training/lora_golden.py", "torch_version": torch.__version__, "dtype": "float64",
           "batch": B, "seq_len": T, "tokens": tokens.flatten().tolist(), "targets": tgts.flatten().tolist(),
           "formula": "0.1*sin(0.37*j + 1.3*k + 0.5)", "runs": runs}
    with open(a.out, "w") as f:
        json.dump(out, f, separators=(",", ":"))
    print("wrote", a.out, os.path.getsize(a.out), "bytes;", [(r["file"], r["targets"], r["loss"]) for r in runs])


if __name__ == "__main__":
    torch.set_num_threads(1)
    main(sys.argv)
