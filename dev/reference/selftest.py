"""Self-test of gguf_read.py and llama_ref.py with an independent numpy GGUF writer.

Builds a random tiny llama (dim 64, 2 layers, 4 heads, 2 KV heads, FFN 128,
vocab 256, tied classifier), writes it as GGUF at F32, F16, BF16, Q8_0 and Q4_0
(2-D weights quantized with ggml's reference rules, norms kept F32) into a
temporary directory, reads each back and checks:
  * every metadata type (all scalars, bool, string, arrays incl. nested) round-trips,
  * GGUF v2 and v3 and a non-default general.alignment are read,
  * F32 tensors read back bit-exactly, dequantized tensors stay within ggml's
    per-block error bound (half a quantization step, plus fp16 rounding of d),
  * each model's logits equal those of an F32 twin holding independently dequantized weights,
  * the logits of each quantized model stay close to the F32 model's logits,
  * the qwen2 path (NeoX rope, biases) equals llama with Q/K rows re-paired.
Nothing is written into the repository.  Usage:  python3 selftest.py [--keep DIR]
"""
import argparse
import os
import struct
import sys
import tempfile

import numpy as np
import torch

import gguf_read as gr
from llama_ref import LlamaRef

# ---------------------------------------------------------------- quantizers (ggml reference rules)


def quant_q8_0(x, packed=True):
    """x: float32 flat array, len % 32 == 0 -> bytes of Q8_0 blocks
    (packed=False: the values those blocks stand for, computed without any byte layout)."""
    b = x.astype(np.float32).reshape(-1, 32)
    amax = np.abs(b).max(axis=1)
    d = (amax / np.float32(127)).astype(np.float32)
    with np.errstate(divide="ignore"):
        idv = np.where(d != 0, np.float32(1) / d, np.float32(0)).astype(np.float32)
    v = (b * idv[:, None]).astype(np.float32)
    v64 = v.astype(np.float64)                        # roundf: half away from zero
    q = (np.sign(v64) * np.floor(np.abs(v64) + 0.5)).astype(np.int8)
    if not packed:
        return (q.astype(np.float32) * d.astype(np.float16).astype(np.float32)[:, None]).reshape(-1)
    out = np.empty((b.shape[0], 34), np.uint8)
    out[:, :2] = d.astype(np.float16).view(np.uint8).reshape(-1, 2)
    out[:, 2:] = q.view(np.uint8)
    return out.tobytes()


def quant_q4_0(x, packed=True):
    """x: float32 flat array, len % 32 == 0 -> bytes of Q4_0 blocks
    (packed=False: the values those blocks stand for, computed without any byte layout)."""
    b = x.astype(np.float32).reshape(-1, 32)
    idx = np.abs(b).argmax(axis=1)                     # first element with the largest |x|
    mx = b[np.arange(b.shape[0]), idx]
    d = (mx / np.float32(-8)).astype(np.float32)
    with np.errstate(divide="ignore"):
        idv = np.where(d != 0, np.float32(1) / d, np.float32(0)).astype(np.float32)
    v = (b * idv[:, None]).astype(np.float32) + np.float32(8.5)
    q = np.minimum(15, np.trunc(v.astype(np.float32)).astype(np.int32)).astype(np.uint8)  # (int8_t) truncates
    if not packed:
        return ((q.astype(np.float32) - 8) * d.astype(np.float16).astype(np.float32)[:, None]).reshape(-1)
    out = np.empty((b.shape[0], 18), np.uint8)
    out[:, :2] = d.astype(np.float16).view(np.uint8).reshape(-1, 2)
    out[:, 2:] = q[:, :16] | (q[:, 16:] << 4)
    return out.tobytes()


def to_bf16(x):
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    r = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)   # round to nearest even
    return r.tobytes()


def fake_quant(w, ggml_type):
    """Values a tensor stands for after a round trip through ggml_type, without bytes."""
    x = np.ascontiguousarray(w, dtype=np.float32).reshape(-1)
    if ggml_type == gr.GGML_F16:
        y = x.astype(np.float16).astype(np.float32)
    elif ggml_type == gr.GGML_BF16:
        y = np.frombuffer(to_bf16(x), np.uint16).astype(np.uint32) << 16
        y = y.view(np.float32)
    elif ggml_type == gr.GGML_Q8_0:
        y = quant_q8_0(x, packed=False)
    elif ggml_type == gr.GGML_Q4_0:
        y = quant_q4_0(x, packed=False)
    else:
        y = x
    return y.reshape(w.shape)


def encode(x, ggml_type):
    x = np.ascontiguousarray(x, dtype=np.float32).reshape(-1)
    if ggml_type == gr.GGML_F32:
        return x.astype("<f4").tobytes()
    if ggml_type == gr.GGML_F16:
        return x.astype("<f2").tobytes()
    if ggml_type == gr.GGML_BF16:
        return to_bf16(x)
    if ggml_type == gr.GGML_Q8_0:
        return quant_q8_0(x)
    if ggml_type == gr.GGML_Q4_0:
        return quant_q4_0(x)
    raise ValueError(ggml_type)

# ---------------------------------------------------------------- GGUF writer


def _str(s):
    b = s.encode("utf-8")
    return struct.pack("<Q", len(b)) + b


_FMT = {gr.T_UINT8: "<B", gr.T_INT8: "<b", gr.T_UINT16: "<H", gr.T_INT16: "<h", gr.T_UINT32: "<I",
        gr.T_INT32: "<i", gr.T_FLOAT32: "<f", gr.T_BOOL: "<?", gr.T_UINT64: "<Q", gr.T_INT64: "<q",
        gr.T_FLOAT64: "<d"}


def _val(vtype, v):
    if vtype == gr.T_STRING:
        return _str(v)
    if isinstance(vtype, tuple):                      # (T_ARRAY, element type)
        et = vtype[1]
        head = struct.pack("<IQ", et[0] if isinstance(et, tuple) else et, len(v))
        return head + b"".join(_val(et, e) for e in v)
    return struct.pack(_FMT[vtype], v)


def write_gguf(path, kvs, tensors, version=3, alignment=32):
    """kvs: list of (key, vtype, value), vtype an int or (T_ARRAY, elem vtype);
    tensors: list of (name, float32 array in torch shape order, ggml type)."""
    kvs = list(kvs)
    if alignment != 32:
        kvs.append(("general.alignment", gr.T_UINT32, alignment))
    head = b"GGUF" + struct.pack("<IQQ", version, len(tensors), len(kvs))
    for k, t, v in kvs:
        head += _str(k) + struct.pack("<I", t if isinstance(t, int) else t[0]) + _val(t, v)
    blobs, off = [], 0
    for name, arr, gtype in tensors:
        ne = list(reversed(arr.shape))
        data = encode(arr, gtype)
        head += _str(name) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<Q", n) for n in ne)
        head += struct.pack("<IQ", gtype, off)
        pad = (-len(data)) % alignment
        blobs.append(data + b"\0" * pad)
        off += len(data) + pad
    head += b"\0" * ((-len(head)) % alignment)
    with open(path, "wb") as f:
        f.write(head)
        for b in blobs:
            f.write(b)

# ---------------------------------------------------------------- random tiny llama


def random_llama(seed=1234, dim=64, n_layer=2, n_head=4, n_kv=2, ffn=128, vocab=256):
    rng = np.random.default_rng(seed)
    hd = dim // n_head

    def mat(o, i):
        return (rng.standard_normal((o, i)) / np.sqrt(i)).astype(np.float32)

    def norm():
        return (1.0 + 0.1 * rng.standard_normal(dim)).astype(np.float32)

    t = [("token_embd.weight", rng.standard_normal((vocab, dim)).astype(np.float32)),
         ("output_norm.weight", norm())]
    for i in range(n_layer):
        p = "blk.%d." % i
        t += [(p + "attn_norm.weight", norm()),
              (p + "attn_q.weight", mat(dim, dim)), (p + "attn_k.weight", mat(n_kv * hd, dim)),
              (p + "attn_v.weight", mat(n_kv * hd, dim)), (p + "attn_output.weight", mat(dim, dim)),
              (p + "ffn_norm.weight", norm()),
              (p + "ffn_gate.weight", mat(ffn, dim)), (p + "ffn_up.weight", mat(ffn, dim)),
              (p + "ffn_down.weight", mat(dim, ffn))]
    toks = ["<unk>", "<s>", "</s>"] + ["<0x%02X>" % i for i in range(vocab - 3)]
    kv = [("general.architecture", gr.T_STRING, "llama"),
          ("general.name", gr.T_STRING, "selftest-tiny"),
          ("llama.context_length", gr.T_UINT32, 128),
          ("llama.embedding_length", gr.T_UINT32, dim),
          ("llama.block_count", gr.T_UINT32, n_layer),
          ("llama.feed_forward_length", gr.T_UINT32, ffn),
          ("llama.attention.head_count", gr.T_UINT32, n_head),
          ("llama.attention.head_count_kv", gr.T_UINT32, n_kv),
          ("llama.rope.dimension_count", gr.T_UINT32, hd),
          ("llama.rope.freq_base", gr.T_FLOAT32, 10000.0),
          ("llama.attention.layer_norm_rms_epsilon", gr.T_FLOAT32, 1e-5),
          ("tokenizer.ggml.model", gr.T_STRING, "llama"),
          ("tokenizer.ggml.tokens", (gr.T_ARRAY, gr.T_STRING), toks),
          ("tokenizer.ggml.scores", (gr.T_ARRAY, gr.T_FLOAT32), [0.0] * vocab),
          ("tokenizer.ggml.token_type", (gr.T_ARRAY, gr.T_INT32), [2, 3, 3] + [6] * (vocab - 3)),
          ("tokenizer.ggml.bos_token_id", gr.T_UINT32, 1),
          ("tokenizer.ggml.eos_token_id", gr.T_UINT32, 2)]
    return kv, t


EXTRA_KV = [("test.u8", gr.T_UINT8, 250), ("test.i8", gr.T_INT8, -5), ("test.u16", gr.T_UINT16, 65000),
            ("test.i16", gr.T_INT16, -30000), ("test.u32", gr.T_UINT32, 4000000000),
            ("test.i32", gr.T_INT32, -2000000000), ("test.f32", gr.T_FLOAT32, 0.5),
            ("test.bool", gr.T_BOOL, True), ("test.str", gr.T_STRING, "h\u00e9llo \u2581"),
            ("test.u64", gr.T_UINT64, 2 ** 63 + 5), ("test.i64", gr.T_INT64, -2 ** 62),
            ("test.f64", gr.T_FLOAT64, 1.25e-300),
            ("test.arr_bool", (gr.T_ARRAY, gr.T_BOOL), [True, False]),
            ("test.arr_nested", (gr.T_ARRAY, (gr.T_ARRAY, gr.T_INT16)), [[1, -2], [], [3]])]

TYPES = [("f32", gr.GGML_F32), ("f16", gr.GGML_F16), ("bf16", gr.GGML_BF16),
         ("q8_0", gr.GGML_Q8_0), ("q4_0", gr.GGML_Q4_0)]
# limit on ||logits_q - logits_f32|| / ||logits_f32||
REL_LIMIT = {"f16": 1e-3, "bf16": 2e-2, "q8_0": 3e-2, "q4_0": 0.35}
# (Q4_0 has ~16x the step of Q8_0, 8 levels per side vs 127, and random Gaussian weights are
#  its worst case: about 0.2 relative error vs Q8_0's 0.014 is expected.)


def check(cond, msg):
    print(("ok    " if cond else "FAIL  ") + msg)
    return bool(cond)


def qwen2_check(d, kv, tens, tokens, n_head=4, n_kv=2):
    """A qwen2 GGUF (NeoX rope, q/k/v biases) whose Q/K rows are the llama model's rows reordered from
    adjacent pairs (2i, 2i+1) to half-split pairs (i, i + hd/2) must give the llama model's logits."""
    rng = np.random.default_rng(7)
    dim = tens[0][1].shape[1]
    hd = dim // n_head
    order = np.concatenate([np.arange(0, hd, 2), np.arange(1, hd, 2)])   # NeoX row r <- NORM row order[r]

    def perm(w, heads):
        return w.reshape(heads, hd, *w.shape[1:])[:, order].reshape(w.shape)

    llama_t, qwen_t = [], []
    for n, w in tens:
        llama_t.append((n, w, gr.GGML_F32))
        if n.endswith(("attn_q.weight", "attn_k.weight")):
            qwen_t.append((n, perm(w, n_head if "attn_q" in n else n_kv), gr.GGML_F32))
        else:
            qwen_t.append((n, w, gr.GGML_F32))
        for k in ("attn_q", "attn_k", "attn_v"):
            if n.endswith(k + ".weight"):
                b = (0.3 * rng.standard_normal(w.shape[0])).astype(np.float32)
                bn = n.replace(".weight", ".bias")
                llama_t.append((bn, b, gr.GGML_F32))
                qwen_t.append((bn, perm(b, n_head if k == "attn_q" else n_kv) if k != "attn_v" else b,
                               gr.GGML_F32))
    qkv = [(k.replace("llama.", "qwen2.", 1), t, v if k != "general.architecture" else "qwen2") for k, t, v in kv]
    pl, pq = os.path.join(d, "tiny-bias-llama.gguf"), os.path.join(d, "tiny-qwen2.gguf")
    write_gguf(pl, kv, llama_t)
    write_gguf(pq, qkv, qwen_t)
    la, qw = LlamaRef(pl), LlamaRef(pq)
    lg_l, lg_q = la.forward(tokens), qw.forward(tokens)
    diff = float((lg_l - lg_q).abs().max())
    nob = float((lg_l - LlamaRef(os.path.join(d, "tiny-f32.gguf")).forward(tokens)).abs().max())
    return check(qw.arch == "qwen2" and qw.rope_neox and diff < 1e-4 and nob > 1e-2,
                 "qwen2 (NeoX rope, biases) == llama with Q/K rows re-paired (max diff %.2e; biases matter: %.2f)"
                 % (diff, nob))


def main(argv):
    ap = argparse.ArgumentParser()
    ap.add_argument("--keep", help="write the GGUF files here instead of a temp dir")
    a = ap.parse_args(argv[1:])
    torch.set_num_threads(1)
    d = a.keep or tempfile.mkdtemp(prefix="ragtune-selftest-")
    os.makedirs(d, exist_ok=True)
    kv, tens = random_llama()
    orig = dict(tens)
    ok = True
    tokens = [1, 17, 200, 5, 99, 42, 3, 250, 128, 64, 7, 33]
    ref = None
    for tname, gtype in TYPES:
        path = os.path.join(d, "tiny-%s.gguf" % tname)
        tl = [(n, w, gtype if w.ndim == 2 else gr.GGML_F32) for n, w in tens]
        write_gguf(path, kv + (EXTRA_KV if tname == "f32" else []), tl,
                   version=2 if tname == "f16" else 3, alignment=64 if tname == "bf16" else 32)
        g = gr.GGUFFile(path)
        if tname == "f32":
            for k, t, v in EXTRA_KV:
                got = g.get(k)
                same = abs(got - v) <= 1e-7 * abs(v) if t == gr.T_FLOAT32 else got == v
                ok &= check(same, "metadata %s round-trips (%r)" % (k, got))
        ok &= check(g.get("tokenizer.ggml.tokens")[3] == "<0x00>", "%s: string array" % tname)
        # tensor error bounds
        worst = 0.0
        for n, w in tens:
            r = g.tensor(n)
            if r.shape != w.shape:
                ok &= check(False, "%s shape %s != %s" % (n, r.shape, w.shape))
                continue
            err = np.abs(r - w)
            if w.ndim == 1 or gtype == gr.GGML_F32:
                bound = np.zeros_like(w)
            elif gtype == gr.GGML_F16:
                bound = np.abs(w) * 2.0 ** -11 + 2.0 ** -25      # half ulp; subnormals below 2^-14
            elif gtype == gr.GGML_BF16:
                bound = np.abs(w) * 2.0 ** -8
            else:
                blk = np.abs(w.reshape(-1, 32)).max(axis=1, keepdims=True)
                # Q8_0: half a step (step = amax/127).  Q4_0: d = max/-8 gives levels -8d..7d, so the
                # element opposite in sign to the block max is clamped to 7|d|: up to one full step.
                step = blk / (127.0 if gtype == gr.GGML_Q8_0 else 8.0)
                frac = 0.5 if gtype == gr.GGML_Q8_0 else 1.0
                bound = (frac * step * 1.0001 + blk * 2.0 ** -11 * 1.0001 + 1e-7).repeat(32, 1).reshape(w.shape)
            if w.ndim == 2 and gtype != gr.GGML_F32:
                exp = fake_quant(w, gtype)
                if not np.array_equal(r, exp):
                    ok &= check(False, "%s %s: dequantized values differ from the quantizer's own values "
                                "(max %.3g)" % (tname, n, np.abs(r - exp).max()))
            worst = max(worst, float((err / np.maximum(bound, 1e-30)).max()) if bound.any() else float(err.max()))
            if not (err <= bound).all():
                ok &= check(False, "%s %s: dequant error %.3g exceeds bound" % (tname, n, err.max()))
        check(True, "%s: all %d tensors within bound (worst err/bound %.3f), GGUF v%d, alignment %d"
              % (tname, len(tens), worst, g.version, g.alignment))
        # logits
        lg = LlamaRef(path).forward(tokens).double()
        if ref is None:
            ref = lg
            lg64 = LlamaRef(path, torch.float64).forward(tokens)
            ok &= check(float((lg - lg64).abs().max()) < 1e-4,
                        "f32 vs f64 reference max diff %.2e" % float((lg - lg64).abs().max()))
            continue
        # same weights, dequantized independently of the reader and stored as F32
        p32 = os.path.join(d, "tiny-%s-as-f32.gguf" % tname)
        write_gguf(p32, kv, [(n, fake_quant(w, gtype) if w.ndim == 2 else w, gr.GGML_F32) for n, w in tens])
        lgx = LlamaRef(p32).forward(tokens).double()
        ok &= check(float((lg - lgx).abs().max()) == 0.0,
                    "%s model logits == logits of its independently dequantized F32 twin (max diff %.2e)"
                    % (tname, float((lg - lgx).abs().max())))
        rel = float((lg - ref).norm() / ref.norm())
        agree = float((lg.argmax(-1) == ref.argmax(-1)).double().mean())
        ok &= check(rel < REL_LIMIT[tname], "%s logits rel. L2 error vs f32 %.4f (limit %g), argmax agreement %.0f%%"
                    % (tname, rel, REL_LIMIT[tname], 100 * agree))
    # sanity: a model with wrong rope pairing must differ (the test can see rope mode)
    m = LlamaRef(os.path.join(d, "tiny-f32.gguf"))
    m.rope_neox = True
    diff = float((m.forward(tokens).double() - ref).norm() / ref.norm())
    ok &= check(diff > 1e-2, "NeoX pairing changes logits (rel %.3f), so rope mode is tested" % diff)
    ok &= qwen2_check(d, kv, tens, tokens)
    if not a.keep:
        for f in os.listdir(d):
            os.remove(os.path.join(d, f))
        os.rmdir(d)
    print("SELFTEST " + ("PASSED" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
