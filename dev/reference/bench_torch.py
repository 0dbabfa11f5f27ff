"""PyTorch fp32 CPU baseline for RagTune's engine benchmarks.

Generation (default): a Llama/Qwen2-shaped decoder with random weights built
directly in torch (no file), a preallocated KV cache, greedy decoding.
Measures
  * prefill of P prompt tokens in one forward (tokens/s),
  * time to first token (prefill + classifier + argmax of the first new token),
  * decode of G tokens one at a time, each attending over the cache (tokens/s),
  * peak RSS of the process (ru_maxrss).
LoRA (--train-lora): rank-8 adapters on q,k,v,o,gate,up,down, frozen base,
batch 4 x seq 256, next-token cross-entropy, AdamW; reports training tokens/s.

  /usr/bin/python3 bench_torch.py [--preset smollm2-135m|qwen2.5-0.5b] [--prompt-tokens 512]
                                  [--gen-tokens 128] [--threads 2] [--json] [--train-lora]
"""
import argparse
import json
import math
import os
import platform
import re
import resource
import sys
import time

import torch
import torch.nn.functional as F

PRESETS = {
    # HuggingFaceTB/SmolLM2-135M(-Instruct) config.json shape
    "smollm2-135m": dict(hidden=576, layers=30, heads=9, kv_heads=3, inter=1536, vocab=49152,
                         theta=100000.0, tied=True, qkv_bias=False, eps=1e-5),
    # Qwen/Qwen2.5-0.5B shape (q/k/v biases, NeoX-style rope; rope pairing does not change cost)
    "qwen2.5-0.5b": dict(hidden=896, layers=24, heads=14, kv_heads=2, inter=4864, vocab=151936,
                         theta=1000000.0, tied=True, qkv_bias=True, eps=1e-6),
}


class Model(torch.nn.Module):
    def __init__(self, cfg, max_len, lora_rank=0):
        super().__init__()
        self.cfg = cfg
        H, nh, nkv = cfg["hidden"], cfg["heads"], cfg["kv_heads"]
        self.hd = H // nh
        g = torch.Generator().manual_seed(0)

        def w(*shape):
            return torch.nn.Parameter(torch.empty(*shape).normal_(0.0, 0.02, generator=g), requires_grad=False)

        self.embed = w(cfg["vocab"], H)
        self.layers = []
        for _ in range(cfg["layers"]):
            L = torch.nn.ParameterDict({
                "attn_norm": torch.nn.Parameter(torch.ones(H), requires_grad=False),
                "ffn_norm": torch.nn.Parameter(torch.ones(H), requires_grad=False),
                "q": w(nh * self.hd, H), "k": w(nkv * self.hd, H), "v": w(nkv * self.hd, H),
                "o": w(H, nh * self.hd), "gate": w(cfg["inter"], H), "up": w(cfg["inter"], H),
                "down": w(H, cfg["inter"]),
            })
            if cfg["qkv_bias"]:
                for k, n in (("q_b", nh), ("k_b", nkv), ("v_b", nkv)):
                    L[k] = w(n * self.hd)
            if lora_rank:
                for k in ("q", "k", "v", "o", "gate", "up", "down"):
                    out_f, in_f = L[k].shape
                    L[k + "_A"] = torch.nn.Parameter(torch.randn(lora_rank, in_f, generator=g) / math.sqrt(in_f))
                    L[k + "_B"] = torch.nn.Parameter(torch.zeros(out_f, lora_rank))
            self.layers.append(L)
        self.layer_list = torch.nn.ModuleList(self.layers)
        self.final_norm = torch.nn.Parameter(torch.ones(H), requires_grad=False)
        self.lora_scale = 2.0 if lora_rank else 0.0     # alpha 16 / rank 8
        inv = cfg["theta"] ** (-torch.arange(0, self.hd, 2, dtype=torch.float64) / self.hd)
        ang = torch.arange(max_len, dtype=torch.float64)[:, None] * inv[None, :]
        self.cos = torch.cos(ang).float()   # [max_len, hd/2]
        self.sin = torch.sin(ang).float()
        self.max_len = max_len

    def rms(self, x, w):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.cfg["eps"]) * w

    def lin(self, x, L, k):
        y = F.linear(x, L[k], L[k + "_b"] if (k + "_b") in L else None)
        if self.lora_scale:
            y = y + F.linear(F.linear(x, L[k + "_A"]), L[k + "_B"]) * self.lora_scale
        return y

    def rope(self, x, pos0):
        # x: [B, heads, T, hd]; NeoX-style halves (cost is the same as adjacent pairs)
        T = x.shape[2]
        cos, sin = self.cos[pos0:pos0 + T], self.sin[pos0:pos0 + T]
        x1, x2 = x[..., : self.hd // 2], x[..., self.hd // 2:]
        return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)

    def new_cache(self, B=1):
        c = self.cfg
        shape = (c["layers"], 2, B, c["kv_heads"], self.max_len, self.hd)
        return torch.zeros(shape)

    def forward(self, tok, pos0=0, cache=None, last_only=True):
        """tok: [B, T] long. With cache: writes K/V at pos0.. and attends over [0, pos0+T)."""
        c = self.cfg
        B, T = tok.shape
        nh, nkv, hd = c["heads"], c["kv_heads"], self.hd
        rep = nh // nkv
        h = F.embedding(tok, self.embed)
        S = pos0 + T
        mask = None
        if T > 1:
            mask = torch.full((T, S), float("-inf")).triu(pos0 + 1)
        for i, L in enumerate(self.layers):
            x = self.rms(h, L["attn_norm"])
            q = self.lin(x, L, "q").view(B, T, nh, hd).transpose(1, 2)
            k = self.lin(x, L, "k").view(B, T, nkv, hd).transpose(1, 2)
            v = self.lin(x, L, "v").view(B, T, nkv, hd).transpose(1, 2)
            q, k = self.rope(q, pos0), self.rope(k, pos0)
            if cache is not None:
                cache[i, 0, :, :, pos0:S] = k
                cache[i, 1, :, :, pos0:S] = v
                k, v = cache[i, 0, :, :, :S], cache[i, 1, :, :, :S]
            # grouped-query attention without materialising repeated K/V
            qg = q.reshape(B, nkv, rep * T, hd)
            att = torch.matmul(qg, k.transpose(-1, -2)) * (1.0 / math.sqrt(hd))   # [B, nkv, rep*T, S]
            att = att.view(B, nkv, rep, T, S)
            if mask is not None:
                att = att + mask
            att = torch.softmax(att, dim=-1).view(B, nkv, rep * T, S)
            o = torch.matmul(att, v).view(B, nh, T, hd).transpose(1, 2).reshape(B, T, nh * hd)
            h = h + self.lin(o, L, "o")
            x = self.rms(h, L["ffn_norm"])
            h = h + self.lin(F.silu(self.lin(x, L, "gate")) * self.lin(x, L, "up"), L, "down")
        if last_only:
            h = h[:, -1:]
        return F.linear(self.rms(h, self.final_norm), self.embed)


def blas_info():
    cfg = torch.__config__.show()
    m = re.search(r"BLAS_INFO=([^,\s]+)", cfg)
    libs = set()
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                p = line.split()[-1]
                if re.search(r"(openblas|libblas|mkl|blis|atlas)", os.path.basename(p), re.I):
                    libs.add(os.path.realpath(p))
    except OSError:
        pass
    libs = sorted(libs)
    if "OpenBLAS" in cfg or any("openblas" in l for l in libs):
        name = "OpenBLAS"
        if any("openblas-openmp" in l for l in libs):
            name += " (openmp)"
        elif any("openblas-pthread" in l for l in libs):
            name += " (pthread)"
    elif "mkl" in cfg.lower() and "USE_MKL=ON" in cfg or any("mkl" in l for l in libs):
        name = "MKL"
    else:
        name = "reference/other"
    return {"blas": name, "build_blas_info": m.group(1) if m else None, "loaded_blas_libs": libs,
            "mentions_openblas_in_config": "OpenBLAS" in cfg}


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0   # Linux: KiB


def bench_generate(a, cfg):
    P, G = a.prompt_tokens, a.gen_tokens
    m = Model(cfg, max_len=P + G + 1)
    n_params = sum(p.numel() for p in m.parameters())
    g = torch.Generator().manual_seed(1)
    prompt = torch.randint(0, cfg["vocab"], (1, P), generator=g)
    with torch.inference_mode():
        # warm-up (allocator, thread pool, BLAS kernels) on a short sequence
        wc = m.new_cache()
        lg = m(prompt[:, :16], 0, wc)
        for i in range(2):
            lg = m(lg.argmax(-1), 16 + i, wc)
        del wc
        cache = m.new_cache()
        t0 = time.perf_counter()
        lg = m(prompt, 0, cache)
        t1 = time.perf_counter()
        nxt = lg[:, -1].argmax(-1, keepdim=True)
        t_first = time.perf_counter()
        out = [int(nxt)]
        t2 = time.perf_counter()
        for i in range(G):
            lg = m(nxt, P + i, cache)
            nxt = lg[:, -1].argmax(-1, keepdim=True)
            out.append(int(nxt))
        t3 = time.perf_counter()
    return {
        "mode": "generate", "n_params": n_params,
        "prompt_tokens": P, "gen_tokens": G,
        "prefill_s": round(t1 - t0, 4), "prefill_tokens_per_s": round(P / (t1 - t0), 2),
        "time_to_first_token_s": round(t_first - t0, 4),
        "decode_s": round(t3 - t2, 4), "decode_tokens_per_s": round(G / (t3 - t2), 2),
        "decode_ms_per_token": round(1000 * (t3 - t2) / G, 2),
    }


def bench_lora(a, cfg):
    B, T, steps = a.batch, a.seq, a.steps
    m = Model(cfg, max_len=T, lora_rank=a.lora_rank)
    trainable = [p for p in m.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(trainable, lr=1e-4)
    g = torch.Generator().manual_seed(2)
    data = torch.randint(0, cfg["vocab"], (B, T + 1), generator=g)
    times = []
    for s in range(steps + 1):                       # step 0 is warm-up
        t0 = time.perf_counter()
        logits = m(data[:, :-1], last_only=False)
        loss = F.cross_entropy(logits.reshape(-1, cfg["vocab"]), data[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t0)
    t = sum(times[1:]) / steps
    return {"mode": "train-lora", "lora_rank": a.lora_rank, "lora_targets": "q,k,v,o,gate,up,down",
            "trainable_params": sum(p.numel() for p in trainable), "batch": B, "seq": T,
            "timed_steps": steps, "step_s": round(t, 3), "train_tokens_per_s": round(B * T / t, 2),
            "final_loss": round(float(loss), 4)}


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", choices=sorted(PRESETS), default="smollm2-135m")
    ap.add_argument("--prompt-tokens", type=int, default=512)
    ap.add_argument("--gen-tokens", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", action="store_true", help="print only the JSON line")
    ap.add_argument("--train-lora", action="store_true")
    ap.add_argument("--lora-rank", type=int, default=8)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--steps", type=int, default=3, help="timed LoRA steps (after one warm-up)")
    ap.add_argument("--shape", help="JSON object overriding the preset's shape (hidden, layers, heads, kv_heads, inter, "
                                    "vocab, theta, tied, qkv_bias, eps): how `ragtune bench train` passes a model file's shape")
    a = ap.parse_args(argv[1:])
    torch.set_num_threads(a.threads)
    cfg = dict(PRESETS[a.preset])
    if a.shape:
        cfg.update(json.loads(a.shape))
        a.preset = "custom"
    load0 = os.getloadavg()
    res = bench_lora(a, cfg) if a.train_lora else bench_generate(a, cfg)
    res.update({
        "preset": a.preset, "config": cfg, "dtype": "float32", "threads": torch.get_num_threads(),
        "peak_rss_mib": round(peak_rss_mib(), 1),
        "torch_version": torch.__version__, "python": platform.python_version(),
        "cpu": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
        "loadavg_before": [round(x, 2) for x in load0],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
    })
    res.update(blas_info())
    if not a.json:
        keys = [k for k in res if k.endswith("per_s") or k.endswith("_s") or k in ("peak_rss_mib", "blas")]
        for k in keys:
            print("%-26s %s" % (k, res[k]), file=sys.stderr)
    print(json.dumps(res))


if __name__ == "__main__":
    main(sys.argv)
