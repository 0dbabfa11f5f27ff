"""Writes a tiny BERT encoder as ONNX (hidden 32, 2 layers, 4 heads, intermediate 64, 128-token vocabulary, 64
positions; random weights, seed 0, every tensor distinct) for OnnxBertFuzzTests: a real torch.onnx export with Hugging Face's module names,
so the graph has the shape of the exported all-MiniLM-L6-v2 (MatMul by anonymous transposed weights, then Add of
'<module>.bias'; the query reshaped to [batch, seq, heads, head_dim] through Concat; GELU through Erf; LayerNorm
decomposed around Sqrt at opset 14) at a size that can be mutated thousands of times.

Usage (from dev/reference/encoders): /usr/bin/python3 tiny_bert_onnx.py ../golden/tiny-bert.onnx
"""
import math
import sys

import torch
from torch import nn

H, L, HEADS, I, V, P = 32, 2, 4, 64, 128, 64


class Embeddings(nn.Module):
    def __init__(self):
        super().__init__()
        self.word_embeddings = nn.Embedding(V, H)
        self.position_embeddings = nn.Embedding(P, H)
        self.token_type_embeddings = nn.Embedding(2, H)
        self.LayerNorm = nn.LayerNorm(H, eps=1e-12)

    def forward(self, ids, types):
        pos = torch.arange(ids.size(1)).unsqueeze(0)
        return self.LayerNorm(self.word_embeddings(ids) + self.position_embeddings(pos) + self.token_type_embeddings(types))


class SelfAttention(nn.Module):
    def __init__(self):
        super().__init__()
        self.query, self.key, self.value = nn.Linear(H, H), nn.Linear(H, H), nn.Linear(H, H)

    def split(self, x):
        return x.view(x.size(0), x.size(1), HEADS, H // HEADS).permute(0, 2, 1, 3)

    def forward(self, x, mask):
        q, k, v = self.split(self.query(x)), self.split(self.key(x)), self.split(self.value(x))
        s = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(H // HEADS) + mask
        c = torch.matmul(torch.softmax(s, dim=-1), v).permute(0, 2, 1, 3).contiguous()
        return c.view(c.size(0), c.size(1), H)


class Output(nn.Module):
    def __init__(self, i):
        super().__init__()
        self.dense = nn.Linear(i, H)
        self.LayerNorm = nn.LayerNorm(H, eps=1e-12)

    def forward(self, x, residual):
        return self.LayerNorm(self.dense(x) + residual)


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.self = SelfAttention()
        self.output = Output(H)

    def forward(self, x, mask):
        return self.output(self.self(x, mask), x)


class Intermediate(nn.Module):
    def __init__(self):
        super().__init__()
        self.dense = nn.Linear(H, I)

    def forward(self, x):
        x = self.dense(x)
        return x * 0.5 * (1.0 + torch.erf(x / math.sqrt(2.0)))


class Layer(nn.Module):
    def __init__(self):
        super().__init__()
        self.attention = Attention()
        self.intermediate = Intermediate()
        self.output = Output(I)

    def forward(self, x, mask):
        a = self.attention(x, mask)
        return self.output(self.intermediate(a), a)


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer = nn.ModuleList([Layer() for _ in range(L)])


class Bert(nn.Module):
    def __init__(self):
        super().__init__()
        self.embeddings = Embeddings()
        self.encoder = Encoder()

    def forward(self, input_ids, attention_mask, token_type_ids):
        mask = (1.0 - attention_mask[:, None, None, :].float()) * -10000.0
        x = self.embeddings(input_ids, token_type_ids)
        for layer in self.encoder.layer:
            x = layer(x, mask)
        return x


def main():
    torch.manual_seed(0)
    model = Bert().eval()
    # Every tensor distinct: the exporter merges identical initializers (default LayerNorm ones and zeros), which
    # would leave the layers' LayerNorm weights without their names.
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_((1.0 if name.endswith("LayerNorm.weight") else 0.0) + 0.1 * torch.randn_like(p))
    ids = torch.tensor([[1, 5, 9, 2]])
    torch.onnx.export(model, (ids, torch.ones_like(ids), torch.zeros_like(ids)), sys.argv[1], opset_version=14,
                      input_names=["input_ids", "attention_mask", "token_type_ids"], output_names=["last_hidden_state"],
                      dynamic_axes={n: {0: "batch", 1: "sequence"} for n in ["input_ids", "attention_mask", "token_type_ids", "last_hidden_state"]})


if __name__ == "__main__":
    main()
