"""Plain PyTorch reference forward for GGUF `llama` (and `qwen2`) models.

Computes what llama.cpp computes for these architectures, written from the
model definition, without any KV cache tricks: every call runs the full
sequence and returns logits for all positions.

  h = token_embd[tokens]
  per layer:
    x  = rmsnorm(h) * attn_norm
    q, k, v = x Wq^T (+bq), x Wk^T (+bk), x Wv^T (+bv)      # qwen2 has biases
    q, k = rope(q), rope(k)       # llama: NORM mode, adjacent pairs (x[2i], x[2i+1])
                                  # qwen2: NEOX mode, pairs (x[i], x[i + d/2])
    a  = softmax(q k^T / sqrt(d_head) + causal mask) v     # query head h uses kv head h // (n_head / n_head_kv)
    h  = h + a Wo^T
    x  = rmsnorm(h) * ffn_norm
    h  = h + (silu(x Wgate^T) * (x Wup^T)) Wdown^T
  logits = (rmsnorm(h) * output_norm) Wout^T    # Wout = token_embd when output.weight is absent

rmsnorm(x) = x / sqrt(mean(x^2) + eps), eps = {arch}.attention.layer_norm_rms_epsilon.
RoPE angle for pair i of a head of size d: pos * theta^(-2i/d), theta = {arch}.rope.freq_base
(default 10000). Only the first {arch}.rope.dimension_count dims are rotated (normally all).

Usage:  python3 llama_ref.py MODEL.gguf [--tokens 1,2,3] [--greedy N] [--double]
"""
import argparse
import math
import sys

import numpy as np
import torch

from gguf_read import GGUFFile


class LlamaRef:
    def __init__(self, path, dtype=torch.float32):
        g = GGUFFile(path)
        self.gguf = g
        self.dtype = dtype
        arch = g.get("general.architecture")
        if arch not in ("llama", "qwen2"):
            raise ValueError("unsupported architecture %r" % arch)
        self.arch = arch
        a = arch + "."
        self.n_embd = int(g.get(a + "embedding_length"))
        self.n_layer = int(g.get(a + "block_count"))
        self.n_head = int(g.get(a + "attention.head_count"))
        self.n_head_kv = int(g.get(a + "attention.head_count_kv", self.n_head))
        self.head_dim = self.n_embd // self.n_head
        self.n_rot = int(g.get(a + "rope.dimension_count", self.head_dim))
        self.eps = float(g.get(a + "attention.layer_norm_rms_epsilon", 1e-5))
        self.theta = float(g.get(a + "rope.freq_base", 10000.0))
        self.rope_neox = arch == "qwen2"
        if g.get(a + "rope.scaling.type", "none") not in ("none",):
            raise ValueError("rope scaling metadata is not supported (rope_freqs.weight is)")
        # llama.cpp's Llama 3 scaling: per-pair frequency divisors (ggml_rope_ext's freq_factors).
        self.rope_freqs = g.tensor("rope_freqs.weight").astype(np.float64) if "rope_freqs.weight" in g.tensors else None

        def t(name):
            return torch.from_numpy(g.tensor(name)).to(dtype)

        self.tok_embd = t("token_embd.weight")
        self.vocab = self.tok_embd.shape[0]
        self.out_norm = t("output_norm.weight")
        self.tied = "output.weight" not in g.tensors
        self.output = self.tok_embd if self.tied else t("output.weight")
        self.layers = []
        for i in range(self.n_layer):
            p = "blk.%d." % i
            L = {k: t(p + k + ".weight") for k in
                 ("attn_norm", "attn_q", "attn_k", "attn_v", "attn_output",
                  "ffn_norm", "ffn_gate", "ffn_up", "ffn_down")}
            for k in ("attn_q", "attn_k", "attn_v", "attn_output"):
                if p + k + ".bias" in g.tensors:
                    L[k + ".bias"] = t(p + k + ".bias")
            self.layers.append(L)

    # --- building blocks -------------------------------------------------
    def rmsnorm(self, x, w):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * w

    def rope(self, x, pos):
        """x: [T, n_heads, head_dim]; pos: [T] int positions."""
        n_rot = self.n_rot
        half = n_rot // 2
        i = torch.arange(half, dtype=torch.float64)
        inv_freq = self.theta ** (-2.0 * i / n_rot)                     # [half]
        if self.rope_freqs is not None:
            inv_freq = inv_freq / torch.from_numpy(self.rope_freqs)
        ang = pos.to(torch.float64)[:, None] * inv_freq[None, :]        # [T, half]
        cos = torch.cos(ang).to(x.dtype)[:, None, :]
        sin = torch.sin(ang).to(x.dtype)[:, None, :]
        xr, xpass = x[..., :n_rot], x[..., n_rot:]
        if self.rope_neox:
            x0, x1 = xr[..., :half], xr[..., half:]
            out = torch.cat([x0 * cos - x1 * sin, x0 * sin + x1 * cos], dim=-1)
        else:
            x0, x1 = xr[..., 0::2], xr[..., 1::2]
            out = torch.stack([x0 * cos - x1 * sin, x0 * sin + x1 * cos], dim=-1).flatten(-2)
        return torch.cat([out, xpass], dim=-1)

    @staticmethod
    def linear(x, L, name):
        y = x @ L[name].T
        b = L.get(name + ".bias")
        return y if b is None else y + b

    # --- forward ---------------------------------------------------------
    @torch.no_grad()
    def forward(self, tokens):
        """tokens: list of ints -> logits tensor [T, vocab] (self.dtype)."""
        tok = torch.tensor(tokens, dtype=torch.long)
        T = tok.shape[0]
        pos = torch.arange(T)
        hd, nh, nkv = self.head_dim, self.n_head, self.n_head_kv
        group = nh // nkv
        mask = torch.full((T, T), float("-inf"), dtype=self.dtype).triu(1)
        scale = 1.0 / math.sqrt(hd)
        h = self.tok_embd[tok]
        for L in self.layers:
            x = self.rmsnorm(h, L["attn_norm"])
            q = self.linear(x, L, "attn_q").view(T, nh, hd)
            k = self.linear(x, L, "attn_k").view(T, nkv, hd)
            v = self.linear(x, L, "attn_v").view(T, nkv, hd)
            q, k = self.rope(q, pos), self.rope(k, pos)
            k = k.repeat_interleave(group, dim=1)          # query head j -> kv head j // group
            v = v.repeat_interleave(group, dim=1)
            att = torch.einsum("thd,shd->hts", q, k) * scale + mask
            att = torch.softmax(att, dim=-1)
            o = torch.einsum("hts,shd->thd", att, v).reshape(T, nh * hd)
            h = h + self.linear(o, L, "attn_output")
            x = self.rmsnorm(h, L["ffn_norm"])
            ff = torch.nn.functional.silu(x @ L["ffn_gate"].T) * (x @ L["ffn_up"].T)
            h = h + ff @ L["ffn_down"].T
        h = self.rmsnorm(h, self.out_norm)
        return h @ self.output.T

    def greedy(self, prompt, n_new, eos=None):
        toks = list(prompt)
        for _ in range(n_new):
            nxt = int(torch.argmax(self.forward(toks)[-1]))
            toks.append(nxt)
            if eos is not None and nxt == eos:
                break
        return toks


def llama3_inv_freq(theta, head_dim, factor, low_freq_factor, high_freq_factor, original_ctx):
    """Llama 3 scaled RoPE inverse frequencies, float64, written from Meta's apply_scaling
    (llama3 reference model.py) / transformers' _compute_llama3_parameters: wavelengths longer than
    original/low are divided by factor, shorter than original/high kept, and the band between blended with
    smooth = (original/wavelen - low) / (high - low): inv/factor*(1-smooth) + inv*smooth."""
    inv = [theta ** (-2.0 * i / head_dim) for i in range(head_dim // 2)]
    low_wavelen = original_ctx / low_freq_factor
    high_wavelen = original_ctx / high_freq_factor
    out = []
    for f in inv:
        wavelen = 2 * math.pi / f
        if wavelen < high_wavelen:
            out.append(f)
        elif wavelen > low_wavelen:
            out.append(f / factor)
        else:
            smooth = (original_ctx / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor)
            out.append((1 - smooth) * f / factor + smooth * f)
    return out


def decode(gguf, ids, skip_special=True):
    """SentencePiece-style detokenization from GGUF vocab: '\u2581' -> ' ', <0xNN> -> byte.
    Control tokens (token_type 3, e.g. BOS/EOS) are skipped; a leading space from the
    first piece is removed as SentencePiece's add_space_prefix does."""
    pieces = gguf.get("tokenizer.ggml.tokens")
    types = gguf.get("tokenizer.ggml.token_type") or [1] * len(pieces)
    out = bytearray()
    for i in ids:
        p, ty = pieces[i], types[i]
        if skip_special and ty == 3:
            continue
        if ty == 6 or (len(p) == 6 and p.startswith("<0x") and p.endswith(">")):
            out.append(int(p[3:5], 16))
        else:
            out += p.replace("\u2581", " ").encode("utf-8")
    text = out.decode("utf-8", errors="replace")
    if text.startswith(" "):
        text = text[1:]
    return text


def main(argv):
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--tokens", default=None, help="comma separated ids (default: BOS)")
    ap.add_argument("--greedy", type=int, default=40)
    ap.add_argument("--double", action="store_true", help="compute in float64")
    a = ap.parse_args(argv[1:])
    m = LlamaRef(a.model, torch.float64 if a.double else torch.float32)
    bos = int(m.gguf.get("tokenizer.ggml.bos_token_id", 1))
    prompt = [int(x) for x in a.tokens.split(",")] if a.tokens else [bos]
    ids = m.greedy(prompt, a.greedy)
    print(ids)
    print(repr(decode(m.gguf, ids)))


if __name__ == "__main__":
    torch.set_num_threads(1)
    main(sys.argv)
