"""How many steps a tiny llama needs before it copies (docs/compare.md, `ragtune demo`).

The task: 30 random letters, '|', the same 30 again (character tokens). The model: llama blocks (RMSNorm, RoPE,
SwiGLU, tied embedding), 2 layers, dim 64, 4 heads, ffn 192; AdamW 3e-3 with warmup and a cosine schedule over
STEPS, batch 8, gradient clipping 1.0 -- the demo model's optimiser settings. Prints the loss on the first half
(random, ~ln 26 = 3.26 at best) and on the copied half (0 once the model copies).
Usage: /usr/bin/python3 copy_task.py [STEPS]   (300: no copying; 700: starts near step 450; 2500: done by 500)
"""
import sys
import torch, random, math
class RMS(torch.nn.Module):
    def __init__(s, d):
        super().__init__(); s.w = torch.nn.Parameter(torch.ones(d))
    def forward(s, x): return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5) * s.w

torch.manual_seed(0); torch.set_num_threads(1)
r = random.Random(3); L = 'abcdefghijklmnopqrstuvwxyz'
V = 28  # 26 letters, '|', bos
def ex():
    s = [r.randrange(26) for _ in range(30)]
    return [27] + s + [26] + s
D, H, F, NL, T = 64, 4, 192, 2, 62
class Blk(torch.nn.Module):
    def __init__(s):
        super().__init__(); s.q = torch.nn.Linear(D, D, bias=False); s.k = torch.nn.Linear(D, D, bias=False); s.v = torch.nn.Linear(D, D, bias=False); s.o = torch.nn.Linear(D, D, bias=False)
        s.g = torch.nn.Linear(D, F, bias=False); s.u = torch.nn.Linear(D, F, bias=False); s.d = torch.nn.Linear(F, D, bias=False); s.n1 = RMS(D); s.n2 = RMS(D)
    def forward(s, x, cos, sin):
        B, T_, _ = x.shape; h = s.n1(x)
        q, k, v = [t(h).view(B, T_, H, D // H).transpose(1, 2) for t in (s.q, s.k, s.v)]
        def rope(t):
            t1, t2 = t[..., ::2], t[..., 1::2]
            return torch.stack([t1 * cos - t2 * sin, t1 * sin + t2 * cos], -1).flatten(-2)
        q, k = rope(q), rope(k)
        att = (q @ k.transpose(-1, -2)) / math.sqrt(D // H); att = att.masked_fill(torch.triu(torch.ones(T_, T_, dtype=torch.bool), 1), float('-inf')); a = att.softmax(-1) @ v
        x = x + s.o(a.transpose(1, 2).reshape(B, T_, D)); h = s.n2(x)
        return x + s.d(torch.nn.functional.silu(s.g(h)) * s.u(h))
class M(torch.nn.Module):
    def __init__(s):
        super().__init__(); s.e = torch.nn.Embedding(V, D); s.b = torch.nn.ModuleList([Blk() for _ in range(NL)]); s.n = RMS(D)
    def forward(s, x):
        T_ = x.shape[1]; inv = 1.0 / (10000 ** (torch.arange(0, D // H, 2) / (D // H))); ang = torch.outer(torch.arange(T_).float(), inv)
        cos, sin = ang.cos(), ang.sin(); h = s.e(x)
        for b in s.b: h = b(h, cos, sin)
        return s.n(h) @ s.e.weight.T
m = M(); opt = torch.optim.AdamW(m.parameters(), lr=3e-3, weight_decay=0.0)
steps = int(sys.argv[1]) if len(sys.argv) > 1 else 700
for step in range(steps):
    lr = 3e-3 * min(1, (step + 1) / 15) * (0.5 * (1 + math.cos(math.pi * step / steps)))
    for g in opt.param_groups: g['lr'] = lr
    b = torch.tensor([ex() for _ in range(8)]); logits = m(b[:, :-1])
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, V), b[:, 1:].reshape(-1), reduction='none').view(8, -1)
    opt.zero_grad(); loss.mean().backward(); torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0); opt.step()
    if step % 50 == 0 or step == steps - 1:
        print(step, f"loss {loss.mean().item():.3f} first half {loss[:, :30].mean().item():.3f} copied half {loss[:, 31:].mean().item():.3f}", flush=True)
