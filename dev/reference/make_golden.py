"""Write golden outputs of the PyTorch reference for the C# engine tests.

Logits mode (default):
  make_golden.py --model A.gguf [--model B.gguf ...] --tokens 1,403,407 --out golden/NAME.json
writes, per model, the logits at every position of the token list (float32,
rounded to 7 significant digits), the argmax per position, the model file's
sha256, its tensor types, and the largest |float32 - float64| difference of the
reference itself (a floor for the tolerance a test can use).

Llama 3 rope scaling mode:
  make_golden.py --inv-freq THETA,HEAD_DIM,FACTOR,LOW,HIGH,ORIGINAL_CTX --out golden/NAME.json
writes {"inv_freq": [...]} computed by llama_ref.llama3_inv_freq (float64, rounded to 9 digits).

Greedy mode:
  make_golden.py --model A.gguf --greedy 40 [--tokens 1] --out golden/NAME.json
writes {"tokens": [prompt + generated ids], "text": decoded text, ...} for the first model.
"""
import argparse
import hashlib
import json
import os
import sys

import numpy as np
import torch

from llama_ref import LlamaRef, decode, llama3_inv_freq


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def r7(x):
    return float("%.7g" % x)


def model_info(path, m):
    types = {}
    for t in m.gguf.tensors.values():
        types[t.type_name] = types.get(t.type_name, 0) + 1
    return {
        "file": os.path.basename(path),
        "sha256": sha256(path),
        "arch": m.arch,
        "tensor_types": types,
        "tied_output": m.tied,
    }


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", action="append")
    ap.add_argument("--inv-freq", default=None, help="theta,head_dim,factor,low,high,original_ctx")
    ap.add_argument("--tokens", default=None, help="comma separated token ids (default: BOS)")
    ap.add_argument("--greedy", type=int, default=0, help="generate N tokens greedily instead")
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv[1:])
    torch.set_num_threads(1)

    doc = {"generator": "dev/reference/make_golden.py", "torch_version": torch.__version__,
           "numpy_version": np.__version__, "dtype": "float32"}
    if a.inv_freq:
        theta, hd, factor, low, high, orig = [float(x) for x in a.inv_freq.split(",")]
        inv = llama3_inv_freq(theta, int(hd), factor, low, high, orig)
        doc.update({"theta": theta, "head_dim": int(hd), "factor": factor, "low_freq_factor": low,
                    "high_freq_factor": high, "original_context_length": int(orig),
                    "inv_freq": [float("%.9g" % v) for v in inv]})
    elif not a.model:
        ap.error("--model is required unless --inv-freq is given")
    elif a.greedy:
        path = a.model[0]
        m = LlamaRef(path)
        bos = int(m.gguf.get("tokenizer.ggml.bos_token_id", 1))
        prompt = [int(x) for x in a.tokens.split(",")] if a.tokens else [bos]
        ids = m.greedy(prompt, a.greedy)
        ids64 = LlamaRef(path, torch.float64).greedy(prompt, a.greedy)
        if ids64 != ids:
            print("warning: float64 greedy differs from float32", file=sys.stderr)
        doc.update({"model": model_info(path, m), "prompt": prompt, "n_generated": a.greedy,
                    "tokens": ids, "text": decode(m.gguf, ids),
                    "float64_agrees": ids64 == ids})
        print(ids)
        print(repr(doc["text"]))
    else:
        if not a.tokens:
            ap.error("--tokens is required in logits mode")
        tokens = [int(x) for x in a.tokens.split(",")]
        doc["tokens"] = tokens
        doc["models"] = []
        for path in a.model:
            m = LlamaRef(path)
            lg = m.forward(tokens)
            lg64 = LlamaRef(path, torch.float64).forward(tokens)
            diff = float((lg.double() - lg64).abs().max())
            info = model_info(path, m)
            info.update({
                "vocab": int(lg.shape[1]),
                "max_abs_diff_float32_vs_float64": float("%.3g" % diff),
                "argmax": [int(i) for i in lg.argmax(-1)],
                "logits": [[r7(v) for v in row] for row in lg.tolist()],
            })
            doc["models"].append(info)
            print("%s: %s, argmax %s, f32-f64 %.3g" % (path, info["tensor_types"], info["argmax"], diff))
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
    size = os.path.getsize(a.out)
    print("wrote %s (%d bytes)" % (a.out, size))
    if size > 200 * 1024:
        print("warning: golden file is over 200 KB; use fewer tokens or models", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv)
