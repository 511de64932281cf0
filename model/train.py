#!/usr/bin/python3
"""
train.py: train tensql's default model, a small Llama on Debian's fortunes.

    sudo model/train.sh              # installs the Debian packages, then runs this
    /usr/bin/python3 model/train.py  # writes model/fortunes/ and model/training_log.txt

Everything the model is comes from this file and two Debian packages:

  data       the fortune cookies of Debian's `fortunes` and `fortunes-min`
             packages (/usr/share/games/fortunes; BSD licence, see
             model/README.md), a few collections left out (EXCLUDED below),
             each cookie one document.  5% of the documents are held out.
  tokenizer  a byte-level BPE (GPT-2's byte-to-unicode mapping and
             pre-tokenizer split) of VOCAB tokens, trained below, with one
             special token <|endoftext|> that starts and ends every cookie.
  model      a Llama (RMSNorm, rotate-half RoPE, SwiGLU, grouped-query
             attention, no biases, tied embeddings) trained with AdamW.
             Run on 2 threads with fixed seeds and deterministic kernels, so
             a second run writes the same files.

It writes, in Hugging Face's layout, what `tensql import model/fortunes`
reads: config.json (LlamaForCausalLM), model.safetensors (written by hand:
8-byte header length, JSON header, little-endian data), vocab.json +
merges.txt + tokenizer_config.json; and beside them validation.txt (the
held-out cookies) and reference_logits.json: PyTorch's own logits for a few
prompts, against which tensql's forward pass is tested
(tests/test_fortunes.c).

The perplexity reported is the one `tensql perplexity MODEL.db FILE`
computes: BOS + the file's tokens (special tokens written in the text
parsed), cut into windows of the context length that overlap by one token,
so every token after BOS is predicted once, from the tokens before it in
its window.
"""
import argparse
import json
import math
import os
import random
import re
import struct
import sys
import time

# Debian's torch calls whatever libblas.so.3 it finds.  The reference BLAS
# is 10-30x slower than OpenBLAS, and OpenBLAS's pthreads variant fights
# torch's OpenMP threads for the 2 cores; the OpenMP variant shares them.
# train.sh installs it; here it is chosen for this process only, and the
# OpenMP threads sleep rather than spin while waiting, which on a busy
# machine is 2-4x faster.
BLAS = "/usr/lib/x86_64-linux-gnu/openblas-openmp"
if (__name__ == "__main__" and os.path.isdir(BLAS)
        and BLAS not in os.environ.get("LD_LIBRARY_PATH", "")):
    os.environ["LD_LIBRARY_PATH"] = BLAS + ":" + os.environ.get("LD_LIBRARY_PATH", "")
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.execv(sys.executable, [sys.executable] + sys.argv)

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

FORTUNES = "/usr/share/games/fortunes"
# Left out: pictures rather than prose (ascii-art), text that is mostly not
# English (translate-me), and collections of jokes about groups of people
# (ethnic, men-women), so that the first thing a newcomer sees is harmless.
EXCLUDED = {"ascii-art", "translate-me", "ethnic", "men-women"}
EOT = "<|endoftext|>"

# ---- settings ----------------------------------------------------------------

DEFAULTS = dict(
    seed=1337, vocab=1024, val_fraction=0.05,
    dim=128, n_layers=4, n_heads=4, n_kv_heads=2, ffn=384, ctx=256,
    batch=16, steps=1800, lr=3e-3, min_lr=1e-4, warmup=100, weight_decay=0.1,
    dropout=0.0, eval_every=200, log_every=25, dtype="f32",
)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for k, v in DEFAULTS.items():
        p.add_argument("--" + k.replace("_", "-"), type=type(v), default=v)
    here = os.path.dirname(os.path.abspath(__file__))
    p.add_argument("--out", default=os.path.join(here, "fortunes"))
    p.add_argument("--log", default=os.path.join(here, "training_log.txt"))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--bench", type=int, default=0,
                   help="time this many steps and stop (choosing a size)")
    p.add_argument("--reference-only", action="store_true",
                   help="train nothing: read the model in --out and write its "
                        "reference_logits.json again")
    return p.parse_args()


# ---- data ----------------------------------------------------------------------

def read_fortunes():
    """Every usable cookie of the included collections, in a fixed order,
    without duplicates.  Cookies that are not plain printable ASCII (a few
    have backspace overstrikes or Latin-1 bytes) are dropped, which keeps
    the tokenizer's pre-tokenizer split exact (see pretokenize)."""
    files = sorted(f for f in os.listdir(FORTUNES)
                   if "." not in f and f not in EXCLUDED
                   and os.path.isfile(os.path.join(FORTUNES, f)))
    docs, seen, dropped = [], set(), 0
    for name in files:
        with open(os.path.join(FORTUNES, name), "rb") as f:
            raw = f.read()
        for entry in re.split(rb"^%\n", raw, flags=re.M):
            entry = entry.rstrip(b"\n")
            if not entry.strip():
                continue
            if re.search(rb"[^\t\n\x20-\x7e]", entry):
                dropped += 1
                continue
            text = entry.decode("ascii")
            if EOT in text or text in seen:
                continue
            seen.add(text)
            docs.append(text)
    return files, docs, dropped


# ---- tokenizer: byte-level BPE --------------------------------------------------

# GPT-2's pre-tokenizer (tensql's "gpt2" split).  On ASCII text, \p{L} is
# [A-Za-z], \p{N} is [0-9] and \s is [ \t\n\r\f\v], so Python's re gives the
# same split as PCRE2 and Hugging Face.
PRETOKENIZE = re.compile(
    r"'s|'t|'re|'ve|'m|'ll|'d| ?[A-Za-z]+| ?[0-9]+| ?[^\sA-Za-z0-9]+|\s+(?!\S)|\s+",
    re.ASCII)


def pretokenize(text):
    assert text.isascii(), "the reference tokenizer handles ASCII text only"
    return PRETOKENIZE.findall(text)


def bytes_to_unicode():
    """GPT-2's reversible map of bytes to printable characters."""
    bs = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
          + list(range(ord("®"), ord("ÿ") + 1)))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs)))


def train_bpe(docs, vocab_size):
    """Merges, most frequent pair first (ties: the smaller pair of byte
    strings), until there are vocab_size - 1 pieces (the last id is EOT).
    Symbols are byte strings, so merges that spell the same piece share it."""
    counts = {}
    for d in docs:
        for w in pretokenize(d):
            counts[w] = counts.get(w, 0) + 1
    words = [[bytes([b]) for b in w.encode()] for w in sorted(counts)]
    freq = [counts[w] for w in sorted(counts)]
    pairs, where = {}, {}
    for i, syms in enumerate(words):
        for p in zip(syms, syms[1:]):
            pairs[p] = pairs.get(p, 0) + freq[i]
            where.setdefault(p, set()).add(i)
    pieces = {bytes([b]) for b in range(256)}
    merges = []
    while len(pieces) < vocab_size - 1 and pairs:
        top = max(pairs.values())
        if top < 2:
            break
        best = min(p for p, c in pairs.items() if c == top)
        merges.append(best)
        merged = best[0] + best[1]
        pieces.add(merged)
        for i in sorted(where.pop(best, ())):
            syms = words[i]
            for p in zip(syms, syms[1:]):
                pairs[p] -= freq[i]
                if pairs[p] == 0:
                    del pairs[p]
            out, j = [], 0
            while j < len(syms):
                if j + 1 < len(syms) and (syms[j], syms[j + 1]) == best:
                    out.append(merged)
                    j += 2
                else:
                    out.append(syms[j])
                    j += 1
            words[i] = out
            for p in zip(out, out[1:]):
                pairs[p] = pairs.get(p, 0) + freq[i]
                where.setdefault(p, set()).add(i)
        pairs.pop(best, None)
    return merges


class Tokenizer:
    """Byte-level BPE by merge rank, as Hugging Face's GPT2Tokenizer and
    tensql's TOKENIZER_BPE encode: split, then in each piece merge the pair
    of lowest rank (all its occurrences, left to right) until none is left."""

    def __init__(self, merges):
        self.merges = merges
        self.rank = {p: r for r, p in enumerate(merges)}
        self.pieces = [bytes([b]) for b in range(256)]
        for a, b in merges:
            if a + b not in self.pieces:
                self.pieces.append(a + b)
        self.eot = len(self.pieces)
        self.id = {p: i for i, p in enumerate(self.pieces)}
        self.cache = {}

    @staticmethod
    def load(out):
        """The tokenizer save() wrote to out."""
        u2b = {c: b for b, c in bytes_to_unicode().items()}
        unspell = lambda s: bytes(u2b[c] for c in s)
        with open(os.path.join(out, "merges.txt")) as f:
            lines = f.read().split("\n")[1:]
        merges = [tuple(unspell(x) for x in line.split(" ")) for line in lines if line]
        tok = Tokenizer(merges)
        with open(os.path.join(out, "vocab.json")) as f:
            vocab = json.load(f)
        assert vocab[EOT] == tok.eot and all(
            vocab["".join(bytes_to_unicode()[b] for b in p)] == i for i, p in enumerate(tok.pieces))
        return tok

    def vocab_size(self):
        return len(self.pieces) + 1

    def bpe(self, word):
        if word in self.cache:
            return self.cache[word]
        syms = [bytes([b]) for b in word.encode()]
        while len(syms) > 1:
            ranked = [(self.rank.get(p, math.inf), p) for p in zip(syms, syms[1:])]
            r, best = min(ranked)
            if r == math.inf:
                break
            out, j = [], 0
            while j < len(syms):
                if j + 1 < len(syms) and (syms[j], syms[j + 1]) == best:
                    out.append(best[0] + best[1])
                    j += 2
                else:
                    out.append(syms[j])
                    j += 1
            syms = out
        ids = [self.id[s] for s in syms]
        self.cache[word] = ids
        return ids

    def encode(self, text):
        """Ids of text, with EOT written in it parsed as the special token;
        no BOS."""
        ids = []
        for k, part in enumerate(text.split(EOT)):
            if k:
                ids.append(self.eot)
            for w in pretokenize(part):
                ids.extend(self.bpe(w))
        return ids

    def decode(self, ids):
        return b"".join(self.pieces[i] if i != self.eot else EOT.encode()
                        for i in ids).decode("utf-8", "replace")

    def save(self, out, ctx):
        b2u = bytes_to_unicode()
        spell = lambda p: "".join(b2u[b] for b in p)
        vocab = {spell(p): i for i, p in enumerate(self.pieces)}
        vocab[EOT] = self.eot
        with open(os.path.join(out, "vocab.json"), "w") as f:
            json.dump(vocab, f, ensure_ascii=False, indent=0)
            f.write("\n")
        with open(os.path.join(out, "merges.txt"), "w") as f:
            f.write("#version: 0.2\n")
            for a, b in self.merges:
                f.write(spell(a) + " " + spell(b) + "\n")
        config = {
            "tokenizer_class": "GPT2Tokenizer",
            "bos_token": EOT, "eos_token": EOT, "unk_token": EOT,
            "add_bos_token": True, "add_prefix_space": False,
            "model_max_length": ctx,
            "added_tokens_decoder": {str(self.eot): {
                "content": EOT, "lstrip": False, "normalized": False,
                "rstrip": False, "single_word": False, "special": True}},
        }
        with open(os.path.join(out, "tokenizer_config.json"), "w") as f:
            json.dump(config, f, indent=2)
            f.write("\n")


# ---- model: Llama ----------------------------------------------------------------

class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rope_tables(head_dim, ctx, theta):
    inv = 1.0 / theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)
    ang = torch.outer(torch.arange(ctx, dtype=torch.float32), inv)
    ang = torch.cat([ang, ang], dim=-1)          # Hugging Face's layout
    return ang.cos(), ang.sin()


def rotate_half(x):
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat([-x2, x1], dim=-1)


class Attention(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.n_heads, self.n_kv, self.hd = a.n_heads, a.n_kv_heads, a.dim // a.n_heads
        self.q_proj = nn.Linear(a.dim, self.n_heads * self.hd, bias=False)
        self.k_proj = nn.Linear(a.dim, self.n_kv * self.hd, bias=False)
        self.v_proj = nn.Linear(a.dim, self.n_kv * self.hd, bias=False)
        self.o_proj = nn.Linear(self.n_heads * self.hd, a.dim, bias=False)
        self.dropout = a.dropout

    def forward(self, x, cos, sin, mask):
        B, T, _ = x.shape
        q = self.q_proj(x).view(B, T, self.n_heads, self.hd).transpose(1, 2)
        k = self.k_proj(x).view(B, T, self.n_kv, self.hd).transpose(1, 2)
        v = self.v_proj(x).view(B, T, self.n_kv, self.hd).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        rep = self.n_heads // self.n_kv
        k = k.repeat_interleave(rep, dim=1)
        v = v.repeat_interleave(rep, dim=1)
        att = (q @ k.transpose(-2, -1)) / math.sqrt(self.hd)
        att = att.masked_fill(mask, float("-inf")).softmax(-1)
        att = F.dropout(att, self.dropout, self.training)
        y = (att @ v).transpose(1, 2).reshape(B, T, -1)
        return self.o_proj(y)


class MLP(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.gate_proj = nn.Linear(a.dim, a.ffn, bias=False)
        self.up_proj = nn.Linear(a.dim, a.ffn, bias=False)
        self.down_proj = nn.Linear(a.ffn, a.dim, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Layer(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.input_layernorm = RMSNorm(a.dim, 1e-5)
        self.self_attn = Attention(a)
        self.post_attention_layernorm = RMSNorm(a.dim, 1e-5)
        self.mlp = MLP(a)
        self.dropout = a.dropout

    def forward(self, x, cos, sin, mask):
        x = x + F.dropout(self.self_attn(self.input_layernorm(x), cos, sin, mask),
                          self.dropout, self.training)
        return x + F.dropout(self.mlp(self.post_attention_layernorm(x)),
                             self.dropout, self.training)


class Llama(nn.Module):
    """Parameter names are Hugging Face's LlamaForCausalLM's, minus
    "model."; the output matrix is the embedding (tied)."""

    def __init__(self, a, vocab):
        super().__init__()
        self.embed_tokens = nn.Embedding(vocab, a.dim)
        self.layers = nn.ModuleList(Layer(a) for _ in range(a.n_layers))
        self.norm = RMSNorm(a.dim, 1e-5)
        cos, sin = rope_tables(a.dim // a.n_heads, a.ctx, 10000.0)
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)
        for name, p in self.named_parameters():
            if p.dim() == 2:
                std = 0.02
                if name.endswith("o_proj.weight") or name.endswith("down_proj.weight"):
                    std = 0.02 / math.sqrt(2 * a.n_layers)
                nn.init.normal_(p, 0.0, std)

    def forward(self, ids):
        T = ids.shape[1]
        mask = torch.ones(T, T, dtype=torch.bool, device=ids.device).triu(1)
        x = self.embed_tokens(ids)
        for layer in self.layers:
            x = layer(x, self.cos[:T], self.sin[:T], mask)
        return self.norm(x) @ self.embed_tokens.weight.t()


# ---- evaluation --------------------------------------------------------------------

def windows(ids, ctx):
    """tensql perplexity's windows: ctx tokens, overlapping by one."""
    out, start = [], 0
    while start < len(ids) - 1:
        out.append(ids[start:start + ctx])
        start += ctx - 1
    return out


@torch.no_grad()
def perplexity(model, ids, ctx, batch=16):
    """Mean negative log-likelihood (nats per token) of ids[1:], and the
    number of tokens predicted."""
    model.eval()
    nll, count = 0.0, 0
    ws = windows(ids, ctx)
    full = [w for w in ws if len(w) == ctx]
    groups = [full[i:i + batch] for i in range(0, len(full), batch)]
    groups += [[w] for w in ws if len(w) != ctx]   # the last may be shorter
    for group in groups:
        x = torch.tensor(group)
        logits = model(x)[:, :-1].double()
        nll += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), x[:, 1:].reshape(-1),
                               reduction="sum").item()
        count += x[:, 1:].numel()
    model.train()
    return nll / count, count


# ---- writing the model -----------------------------------------------------------

def save_safetensors(path, tensors):
    """safetensors: u64 header length, JSON header (padded with spaces to a
    multiple of 8), then each tensor's little-endian data."""
    header, blobs, offset = {}, [], 0
    for name, t in tensors:
        data = t.contiguous().numpy().astype(t.numpy().dtype.newbyteorder("<")).tobytes()
        dtype = {torch.float32: "F32", torch.float16: "F16"}[t.dtype]
        header[name] = {"dtype": dtype, "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    header["__metadata__"] = {"format": "pt", "producer": "tensql model/train.py"}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def load_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    out = {}
    for name, h in header.items():
        if name == "__metadata__":
            continue
        b, e = h["data_offsets"]
        dt = {"F32": "<f4", "F16": "<f2"}[h["dtype"]]
        arr = np.frombuffer(raw[8 + n + b:8 + n + e], dtype=dt).reshape(h["shape"])
        out[name] = torch.from_numpy(arr.astype(np.float32))
    return out


def load_model(a):
    """The model in a.out, with a's shape settings taken from its config.json."""
    with open(os.path.join(a.out, "config.json")) as f:
        c = json.load(f)
    a.dim, a.ffn, a.n_layers = c["hidden_size"], c["intermediate_size"], c["num_hidden_layers"]
    a.n_heads, a.n_kv_heads = c["num_attention_heads"], c["num_key_value_heads"]
    a.ctx, a.dtype = c["max_position_embeddings"], {"float32": "f32", "float16": "f16"}[c["torch_dtype"]]
    model = Llama(a, c["vocab_size"])
    weights = {k[len("model."):]: v for k, v in
               load_safetensors(os.path.join(a.out, "model.safetensors")).items()}
    model.load_state_dict(weights)
    return model


def export(model, a, tok, out):
    dtype = {"f32": torch.float32, "f16": torch.float16}[a.dtype]
    tensors = []
    for name, p in model.state_dict().items():
        t = p.detach()
        if t.dim() == 2:
            t = t.to(dtype)
        tensors.append(("model." + name, t))
    save_safetensors(os.path.join(out, "model.safetensors"), tensors)
    config = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama",
        "vocab_size": tok.vocab_size(), "hidden_size": a.dim,
        "intermediate_size": a.ffn, "num_hidden_layers": a.n_layers,
        "num_attention_heads": a.n_heads, "num_key_value_heads": a.n_kv_heads,
        "head_dim": a.dim // a.n_heads, "max_position_embeddings": a.ctx,
        "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "rope_scaling": None,
        "hidden_act": "silu", "attention_bias": False, "mlp_bias": False,
        "tie_word_embeddings": True, "bos_token_id": tok.eot, "eos_token_id": tok.eot,
        "torch_dtype": {"f32": "float32", "f16": "float16"}[a.dtype],
        "initializer_range": 0.02,
    }
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")
    tok.save(out, a.ctx)
    # From here on the model is what was written: weights rounded to dtype.
    with torch.no_grad():
        for name, p in model.state_dict().items():
            if p.dim() == 2:
                p.copy_(p.to(dtype).float())


# ---- reference outputs for tensql's tests -------------------------------------------

PROMPTS = [
    "A fool and his money",
    "Q: How many programmers does it take to change a light bulb?\nA:",
    "The best way to",
    "It is a truth universally acknowledged",
    "Never trust a computer",
]


@torch.no_grad()
def reference(model, tok, a, out, validation):
    """Write reference_logits.json: for each prompt, its ids (BOS first),
    PyTorch's logits of the last position and greedy continuation; and the
    validation perplexity as `tensql perplexity` computes it."""
    model.eval()
    entries = []
    for prompt in PROMPTS:
        ids = [tok.eot] + tok.encode(prompt)
        logits = model(torch.tensor([ids]))[0, -1]
        greedy, seq = [], list(ids)
        while len(greedy) < 48 and len(seq) < a.ctx:
            nxt = int(model(torch.tensor([seq]))[0, -1].argmax())
            greedy.append(nxt)
            seq.append(nxt)
            if nxt == tok.eot:
                break
        entries.append({
            "prompt": prompt, "ids": ids,
            "logits": [float("%.9g" % v) for v in logits.tolist()],
            "greedy": greedy, "greedy_text": tok.decode([g for g in greedy if g != tok.eot]),
        })
    doc = {
        "about": "PyTorch's logits of the last prompt position (BOS first) and its greedy "
                 "continuation, from model/train.py with the weights as written",
        "torch": torch.__version__, "prompts": entries,
        "validation": validation,
    }
    with open(os.path.join(out, "reference_logits.json"), "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
    model.train()
    return entries


@torch.no_grad()
def sample(model, tok, prompt, n, temperature, gen):
    model.eval()
    seq = [tok.eot] + tok.encode(prompt)
    start = len(seq)
    while len(seq) - start < n and len(seq) < model.cos.shape[0]:
        logits = model(torch.tensor([seq]))[0, -1] / temperature
        nxt = int(torch.multinomial(logits.softmax(-1), 1, generator=gen))
        if nxt == tok.eot:
            break
        seq.append(nxt)
    model.train()
    return tok.decode(seq[1:])


def finish(model, tok, a, val_ids, log):
    """The validation perplexity, reference_logits.json and a few samples,
    from the model as written."""
    vl, count = perplexity(model, val_ids, a.ctx)
    log(f"final validation (validation.txt, weights as written): loss {vl:.5f} nats/token "
        f"over {count} tokens, perplexity {math.exp(vl):.4f}")
    validation = {"file": "validation.txt", "ctx": a.ctx, "tokens": count,
                  "nll": float("%.9g" % vl), "perplexity": float("%.9g" % math.exp(vl))}
    entries = reference(model, tok, a, a.out, validation)
    gen = torch.Generator().manual_seed(a.seed)
    for e in entries:
        log(f"greedy: {e['prompt']!r} -> {e['greedy_text']!r}")
    for prompt in PROMPTS[:3]:
        log(f"sample (T=0.8): {sample(model, tok, prompt, 60, 0.8, gen)!r}")


def reference_only(a):
    torch.set_num_threads(a.threads)
    torch.use_deterministic_algorithms(True)
    tok = Tokenizer.load(a.out)
    model = load_model(a)
    with open(os.path.join(a.out, "validation.txt")) as f:
        val_ids = [tok.eot] + tok.encode(f.read())
    finish(model, tok, a, val_ids, print)


# ---- training ------------------------------------------------------------------------

def main():
    a = parse_args()
    if a.reference_only:
        return reference_only(a)
    assert a.dim % a.n_heads == 0 and a.n_heads % a.n_kv_heads == 0
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    random.seed(a.seed)
    np.random.seed(a.seed)
    torch.use_deterministic_algorithms(True)
    t0 = time.time()
    log_lines = []

    def log(msg):
        print(msg, flush=True)
        log_lines.append(msg)

    files, docs, dropped = read_fortunes()
    order = list(range(len(docs)))
    random.Random(a.seed).shuffle(order)
    n_val = int(round(len(docs) * a.val_fraction))
    val_docs = [docs[i] for i in order[:n_val]]
    train_docs = [docs[i] for i in order[n_val:]]
    log(f"data: {len(docs)} cookies from {len(files)} collections of {FORTUNES} "
        f"({', '.join(files)}); {dropped} non-ASCII cookies dropped; "
        f"{len(train_docs)} train, {len(val_docs)} validation")

    merges = train_bpe(train_docs, a.vocab)
    tok = Tokenizer(merges)
    assert tok.vocab_size() == a.vocab, tok.vocab_size()
    train_text = "".join(EOT + d for d in train_docs) + EOT
    val_text = "".join(d + EOT for d in val_docs)
    train_ids = torch.tensor(tok.encode(train_text), dtype=torch.long)
    val_ids = [tok.eot] + tok.encode(val_text)    # what tensql perplexity reads
    log(f"tokenizer: byte-level BPE, {len(merges)} merges, vocab {tok.vocab_size()}; "
        f"train {len(train_ids)} tokens ({len(train_text) / len(train_ids):.2f} bytes/token), "
        f"validation {len(val_ids)} tokens ({time.time() - t0:.0f} s)")

    model = Llama(a, tok.vocab_size())
    n_params = sum(p.numel() for p in model.parameters())
    log(f"model: dim {a.dim}, {a.n_layers} layers, {a.n_heads} heads ({a.n_kv_heads} KV), "
        f"ffn {a.ffn}, context {a.ctx}, tied embeddings: {n_params} parameters, "
        f"written as {a.dtype}")
    log(f"training: {a.steps} steps of {a.batch} x {a.ctx} tokens, AdamW lr {a.lr} "
        f"(warmup {a.warmup}, cosine to {a.min_lr}), weight decay {a.weight_decay}, "
        f"dropout {a.dropout}, seed {a.seed}, {a.threads} threads")

    decay = [p for p in model.parameters() if p.dim() == 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": a.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=a.lr, betas=(0.9, 0.95), eps=1e-8)
    gen = torch.Generator().manual_seed(a.seed)
    steps = a.bench or a.steps
    t_train, cpu_train = time.time(), time.process_time()
    smooth = None
    for step in range(1, steps + 1):
        if step <= a.warmup:
            lr = a.lr * step / a.warmup
        else:
            frac = (step - a.warmup) / max(1, a.steps - a.warmup)
            lr = a.min_lr + 0.5 * (a.lr - a.min_lr) * (1 + math.cos(math.pi * frac))
        for g in opt.param_groups:
            g["lr"] = lr
        starts = torch.randint(0, len(train_ids) - a.ctx - 1, (a.batch,), generator=gen)
        batch = torch.stack([train_ids[s:s + a.ctx + 1] for s in starts.tolist()])
        x, y = batch[:, :-1], batch[:, 1:]
        loss = F.cross_entropy(model(x).view(-1, tok.vocab_size()), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        smooth = loss.item() if smooth is None else 0.9 * smooth + 0.1 * loss.item()
        if step % a.log_every == 0 or step == 1:
            el, cpu = time.time() - t_train, time.process_time() - cpu_train
            log(f"step {step:5d}  loss {loss.item():.4f}  (smoothed {smooth:.4f})  "
                f"lr {lr:.2e}  {el:6.0f} s ({cpu:6.0f} cpu-s)  "
                f"{step * a.batch * a.ctx / el:5.0f} tok/s")
        if a.bench == 0 and (step % a.eval_every == 0 or step == steps):
            vl, _ = perplexity(model, val_ids, a.ctx)
            log(f"step {step:5d}  validation loss {vl:.4f}  perplexity {math.exp(vl):.2f}")
    train_time, train_cpu = time.time() - t_train, time.process_time() - cpu_train
    if a.bench:
        print(f"bench: {train_time / steps:.3f} s/step, {n_params} params")
        return

    os.makedirs(a.out, exist_ok=True)
    export(model, a, tok, a.out)
    with open(os.path.join(a.out, "validation.txt"), "w") as f:
        f.write(val_text)
    log(f"trained in {train_time:.0f} s ({train_time / 60:.1f} min; {train_cpu:.0f} cpu-s "
        f"on {a.threads} threads, load average {os.getloadavg()[0]:.1f})")
    finish(model, tok, a, val_ids, log)
    log(f"total {time.time() - t0:.0f} s")
    with open(a.log, "w") as f:
        f.write("\n".join(log_lines) + "\n")


if __name__ == "__main__":
    main()
