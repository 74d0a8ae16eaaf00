#!/usr/bin/python3
"""Exports the whole-model test set to ONNX with PyTorch reference outputs.

  /usr/bin/python3 tests/models/export_models.py [--out models] [--only resnet50,mobilenet_v2,bert_base]

Debian python3-torch, python3-torchvision, python3-onnx. Random weights with
fixed seeds (no downloads). Models are generated, never committed (models/ is
git-ignored). For each model NAME it writes:
  OUT/NAME/model.onnx
  OUT/NAME/inputs/<input>.npy          (batch 1 example input)
  OUT/NAME/torch/<output>.npy          (PyTorch's output for that input)
"""
import argparse
import math
import os

import numpy as np
import torch
import torch.nn as nn
import torchvision

OPSET = 17  # the highest torch 1.13 exports; LayerNorm becomes LayerNormalization


class BertEmbeddings(nn.Module):
    def __init__(self, vocab, hidden, max_pos, type_vocab):
        super().__init__()
        self.word = nn.Embedding(vocab, hidden)
        self.position = nn.Embedding(max_pos, hidden)
        self.token_type = nn.Embedding(type_vocab, hidden)
        self.norm = nn.LayerNorm(hidden, eps=1e-12)

    def forward(self, input_ids):
        seq = input_ids.shape[1]
        pos = torch.arange(seq, device=input_ids.device).unsqueeze(0)
        x = self.word(input_ids) + self.position(pos) + self.token_type(torch.zeros_like(input_ids))
        return self.norm(x)


class BertLayer(nn.Module):
    def __init__(self, hidden, heads, inter):
        super().__init__()
        self.heads, self.head_dim = heads, hidden // heads
        self.q, self.k, self.v = nn.Linear(hidden, hidden), nn.Linear(hidden, hidden), nn.Linear(hidden, hidden)
        self.attn_out = nn.Linear(hidden, hidden)
        self.norm1 = nn.LayerNorm(hidden, eps=1e-12)
        self.fc1, self.fc2 = nn.Linear(hidden, inter), nn.Linear(inter, hidden)
        self.norm2 = nn.LayerNorm(hidden, eps=1e-12)

    def split(self, x):
        b, s, _ = x.shape
        return x.view(b, s, self.heads, self.head_dim).transpose(1, 2)

    def forward(self, x, mask_bias):
        q, k, v = self.split(self.q(x)), self.split(self.k(x)), self.split(self.v(x))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.head_dim) + mask_bias
        ctx = torch.matmul(torch.softmax(scores, dim=-1), v)
        b, h, s, d = ctx.shape
        ctx = ctx.transpose(1, 2).reshape(b, s, h * d)
        x = self.norm1(x + self.attn_out(ctx))
        y = self.fc2(torch.nn.functional.gelu(self.fc1(x)))  # erf GELU, as BERT
        return self.norm2(x + y)


class BertEncoder(nn.Module):
    """BERT-base shaped: 12 layers, hidden 768, 12 heads, FFN 3072."""

    def __init__(self, vocab=30522, hidden=768, layers=12, heads=12, inter=3072, max_pos=512):
        super().__init__()
        self.emb = BertEmbeddings(vocab, hidden, max_pos, 2)
        self.layers = nn.ModuleList([BertLayer(hidden, heads, inter) for _ in range(layers)])
        self.pool = nn.Linear(hidden, hidden)

    def forward(self, input_ids, attention_mask):
        x = self.emb(input_ids)
        mask_bias = (1.0 - attention_mask[:, None, None, :].to(x.dtype)) * -10000.0
        for layer in self.layers:
            x = layer(x, mask_bias)
        pooled = torch.tanh(self.pool(x[:, 0]))
        return x, pooled


def export(name, model, inputs, input_names, output_names, dynamic_axes, out_root):
    d = os.path.join(out_root, name)
    os.makedirs(os.path.join(d, "inputs"), exist_ok=True)
    os.makedirs(os.path.join(d, "torch"), exist_ok=True)
    model.eval()
    with torch.no_grad():
        outs = model(*inputs)
        if isinstance(outs, torch.Tensor):
            outs = (outs,)
        torch.onnx.export(model, tuple(inputs), os.path.join(d, "model.onnx"),
                          input_names=input_names, output_names=output_names,
                          dynamic_axes=dynamic_axes, opset_version=OPSET, do_constant_folding=True)
    for n, t in zip(input_names, inputs):
        np.save(os.path.join(d, "inputs", n + ".npy"), t.numpy())
    for n, t in zip(output_names, outs):
        np.save(os.path.join(d, "torch", n + ".npy"), t.numpy())
    size = os.path.getsize(os.path.join(d, "model.onnx"))
    print(f"{name}: {size / 1e6:.1f} MB, outputs {[tuple(t.shape) for t in outs]}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "..", "models"))
    ap.add_argument("--only", default="resnet50,mobilenet_v2,bert_base")
    args = ap.parse_args()
    only = set(args.only.split(","))
    torch.set_num_threads(2)
    if "resnet50" in only:
        torch.manual_seed(0)
        m = torchvision.models.resnet50(weights=None)
        x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(1))
        export("resnet50", m, [x], ["input"], ["logits"], {"input": {0: "batch"}, "logits": {0: "batch"}},
               args.out)
    if "mobilenet_v2" in only:
        torch.manual_seed(0)
        m = torchvision.models.mobilenet_v2(weights=None)
        x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(1))
        export("mobilenet_v2", m, [x], ["input"], ["logits"],
               {"input": {0: "batch"}, "logits": {0: "batch"}}, args.out)
    if "bert_base" in only:
        torch.manual_seed(0)
        m = BertEncoder()
        g = torch.Generator().manual_seed(1)
        ids = torch.randint(0, 30522, (1, 128), generator=g, dtype=torch.int64)
        mask = torch.ones(1, 128, dtype=torch.int64)
        mask[:, 100:] = 0  # padded tail, so the mask matters
        export("bert_base", m, [ids, mask], ["input_ids", "attention_mask"],
               ["last_hidden_state", "pooler_output"],
               {"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"},
                "last_hidden_state": {0: "batch", 1: "sequence"}, "pooler_output": {0: "batch"}},
               args.out)


if __name__ == "__main__":
    main()
