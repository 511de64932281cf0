#!/usr/bin/python3
"""qwen2_reference.py: an independent Qwen2 forward pass in PyTorch, to check
tensql's SQL forward pass against (tests/test_qwen2.sh).

    /usr/bin/python3 tests/qwen2_reference.py MODEL.gguf --ids 1,2,3 [--generate 8]

Reads a GGUF file with its own small reader (F32, F16 and Q8_0 tensors),
runs the model in float64 on the given token ids, and prints JSON:

    {"logits": [...],      # the last position's logits
     "greedy": [...]}      # greedy continuation ids (stops after eos/bos)

The model follows Hugging Face's Qwen2 (modeling_qwen2.py), written from
the architecture, not from tensql: RMSNorm, q/k/v projections with biases,
rotary embeddings rotating halves (rotate_half, NEOX style) with theta from
the metadata, grouped-query attention, causal softmax, SwiGLU, tied
embeddings when there is no output.weight.  llama.cpp writes qwen2's q and
k weights in Hugging Face's layout (no permutation), so they are used as
they are.

Like llama.cpp, tensql multiplies Q8_0 weights with activations quantized
to Q8_0 (ggml's quantize_row_q8_0_ref: per block of 32, d = amax/127 in
float32, q = round half away from zero of x/d, d stored as float16).  The
reference does the same before every product with a Q8_0 weight, from the
definition, in float32 as ggml does, then multiplies in float64.
"""
import argparse
import json
import mmap
import struct
import sys

import numpy as np
import torch

GGML_F32, GGML_F16, GGML_Q8_0 = 0, 1, 8


class GGUF:
    """Metadata and tensors of a GGUF v2/v3 file."""

    SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f",
               7: "<?", 10: "<Q", 11: "<q", 12: "<d"}

    def __init__(self, path):
        f = open(path, "rb")
        self.buf = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        self.pos = 0
        if self.buf[:4] != b"GGUF":
            raise ValueError(f"{path}: not a GGUF file")
        self.pos = 4
        version, n_tensors, n_kv = self.read("<I"), self.read("<Q"), self.read("<Q")
        if version not in (2, 3):
            raise ValueError(f"{path}: GGUF version {version}")
        self.meta = {}
        for _ in range(n_kv):
            key = self.read_str()
            self.meta[key] = self.read_value(self.read("<I"))
        infos = []
        for _ in range(n_tensors):
            name = self.read_str()
            n_dims = self.read("<I")
            ne = [self.read("<Q") for _ in range(n_dims)]
            infos.append((name, ne, self.read("<I"), self.read("<Q")))
        align = self.meta.get("general.alignment", 32)
        data_start = (self.pos + align - 1) // align * align
        self.tensors = {name: (ne, kind, data_start + offset)
                        for name, ne, kind, offset in infos}

    def read(self, fmt):
        v = struct.unpack_from(fmt, self.buf, self.pos)[0]
        self.pos += struct.calcsize(fmt)
        return v

    def read_str(self):
        n = self.read("<Q")
        s = bytes(self.buf[self.pos:self.pos + n])
        self.pos += n
        return s.decode("utf-8", errors="surrogateescape")

    def read_value(self, kind):
        if kind in self.SCALARS:
            return self.read(self.SCALARS[kind])
        if kind == 8:
            return self.read_str()
        if kind == 9:
            elem, n = self.read("<I"), self.read("<Q")
            return [self.read_value(elem) for _ in range(n)]
        raise ValueError(f"unknown GGUF value type {kind}")

    def tensor(self, name):
        """The tensor as float64, shape outermost first (rows, cols)."""
        ne, kind, at = self.tensors[name]
        count = int(np.prod(ne))
        if kind == GGML_F32:
            x = np.frombuffer(self.buf, np.float32, count, at).astype(np.float64)
        elif kind == GGML_F16:
            x = np.frombuffer(self.buf, np.float16, count, at).astype(np.float64)
        elif kind == GGML_Q8_0:
            blocks = np.frombuffer(self.buf, np.dtype([("d", "<f2"), ("q", "i1", 32)]),
                                   count // 32, at)
            x = (blocks["d"].astype(np.float64)[:, None] * blocks["q"]).reshape(-1)
        else:
            raise ValueError(f"{name}: ggml type {kind} is not read here")
        return torch.from_numpy(x.reshape(list(reversed(ne))).copy())

    def kind(self, name):
        return self.tensors[name][1]


def quantize_q8_0(x):
    """x with each row's blocks of 32 quantized to Q8_0 and back."""
    v = x.to(torch.float32).reshape(-1, 32)
    d = v.abs().max(dim=1, keepdim=True).values / 127
    inverse = torch.where(d != 0, 1.0 / d, torch.zeros_like(d))
    scaled = v * inverse
    q = torch.sign(scaled) * torch.floor(scaled.abs() + 0.5)
    d16 = d.to(torch.float16).to(torch.float64)
    return (d16 * q.to(torch.float64)).reshape(x.shape)


class Qwen2:
    def __init__(self, g):
        arch = g.meta["general.architecture"]
        if arch != "qwen2":
            raise ValueError(f"architecture {arch}, expected qwen2")
        hp = lambda k: g.meta[f"{arch}.{k}"]
        self.n_layers = hp("block_count")
        self.dim = hp("embedding_length")
        self.n_heads = hp("attention.head_count")
        self.n_kv_heads = hp("attention.head_count_kv")
        self.head_dim = self.dim // self.n_heads
        self.theta = hp("rope.freq_base")
        self.eps = hp("attention.layer_norm_rms_epsilon")
        self.w = {name: g.tensor(name) for name in g.tensors}
        self.quantized = {name for name in g.tensors if g.kind(name) == GGML_Q8_0}
        self.embed = self.w["token_embd.weight"]
        self.output = "output.weight" if "output.weight" in self.w else "token_embd.weight"
        self.stop = {g.meta[k] for k in ("tokenizer.ggml.eos_token_id",
                                         "tokenizer.ggml.bos_token_id") if k in g.meta}

    def linear(self, x, name):
        """x W^T, with x quantized first where W is Q8_0."""
        if name in self.quantized:
            x = quantize_q8_0(x)
        return x @ self.w[name].T

    def rmsnorm(self, x, weight):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * weight

    def rope(self, x, positions):
        """x: (heads, T, head_dim); rotate the two halves of each head."""
        half = self.head_dim // 2
        inv_freq = 1.0 / (self.theta ** (torch.arange(0, half, dtype=torch.float64) * 2 / self.head_dim))
        freqs = positions[:, None].to(torch.float64) * inv_freq[None, :]
        emb = torch.cat([freqs, freqs], dim=-1)
        cos, sin = emb.cos(), emb.sin()
        rotated = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
        return x * cos + rotated * sin

    def forward(self, ids):
        """Logits of every position of ids, (T, vocab)."""
        T = len(ids)
        x = self.embed[torch.tensor(ids)]
        positions = torch.arange(T)
        mask = torch.full((T, T), float("-inf"), dtype=torch.float64).triu(1)
        group = self.n_heads // self.n_kv_heads
        for l in range(self.n_layers):
            w = lambda s: self.w[f"blk.{l}.{s}"]
            lin = lambda x, s: self.linear(x, f"blk.{l}.{s}")
            h = self.rmsnorm(x, w("attn_norm.weight"))
            q = lin(h, "attn_q.weight") + w("attn_q.bias")
            k = lin(h, "attn_k.weight") + w("attn_k.bias")
            v = lin(h, "attn_v.weight") + w("attn_v.bias")
            q = q.view(T, self.n_heads, self.head_dim).transpose(0, 1)
            k = k.view(T, self.n_kv_heads, self.head_dim).transpose(0, 1)
            v = v.view(T, self.n_kv_heads, self.head_dim).transpose(0, 1)
            q, k = self.rope(q, positions), self.rope(k, positions)
            k = k.repeat_interleave(group, dim=0)     # query head i uses kv head i // group
            v = v.repeat_interleave(group, dim=0)
            scores = q @ k.transpose(1, 2) / self.head_dim ** 0.5 + mask
            attn = torch.softmax(scores, dim=-1) @ v
            attn = attn.transpose(0, 1).reshape(T, self.dim)
            x = x + lin(attn, "attn_output.weight")
            h = self.rmsnorm(x, w("ffn_norm.weight"))
            gate = torch.nn.functional.silu(lin(h, "ffn_gate.weight"))
            x = x + lin(gate * lin(h, "ffn_up.weight"), "ffn_down.weight")
        return self.linear(self.rmsnorm(x, self.w["output_norm.weight"]), self.output)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("gguf")
    ap.add_argument("--ids", required=True, help="prompt token ids, comma-separated")
    ap.add_argument("--generate", type=int, default=8, help="greedy tokens to generate")
    args = ap.parse_args()
    ids = [int(i) for i in args.ids.split(",") if i.strip()]
    model = Qwen2(GGUF(args.gguf))
    with torch.no_grad():
        logits = model.forward(ids)[-1]
        greedy, seq = [], list(ids)
        step_logits = logits
        for _ in range(args.generate):
            token = int(torch.argmax(step_logits))
            greedy.append(token)
            if token in model.stop:
                break
            seq.append(token)
            step_logits = model.forward(seq)[-1]
    json.dump({"logits": logits.tolist(), "greedy": greedy}, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
