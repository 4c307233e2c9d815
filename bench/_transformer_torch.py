"""The transformer of bench/_transformer.ts in PyTorch, for comparison: the
same sizes and architecture (pre-LN, GELU tanh, causal and padding masks at
-1e9, tied output, dropout on the embeddings, the attention probabilities and
both residual branches), Adam, and one R-Drop step as the trainer runs it: one
pass over [x; x], cross-entropy on both twins plus alpha times their symmetric
KL. On one thread, as tfjs's wasm backend runs here.

Usage: python3 bench/_transformer_torch.py '<spec JSON>' <rows per twin> <steps>
Prints one JSON line: {"torch": version, "blas": the BLAS torch was built
with, "seconds": median seconds a step, "matmul_gflops": the rate of a
512x512x512 product on the same thread}.
"""

import json
import math
import re
import sys
import time

import torch
import torch.nn.functional as F

torch.set_num_threads(1)
torch.manual_seed(0)


class Block(torch.nn.Module):
    def __init__(self, d, heads, ffn, dropout):
        super().__init__()
        self.heads = heads
        self.ln1 = torch.nn.LayerNorm(d, eps=1e-5)
        self.query = torch.nn.Linear(d, d)
        self.key = torch.nn.Linear(d, d)
        self.value = torch.nn.Linear(d, d)
        self.output = torch.nn.Linear(d, d)
        self.ln2 = torch.nn.LayerNorm(d, eps=1e-5)
        self.mlp_in = torch.nn.Linear(d, ffn)
        self.mlp_out = torch.nn.Linear(ffn, d)
        self.dropout = dropout

    def forward(self, h, mask):
        b, t, d = h.shape
        width = d // self.heads
        a = self.ln1(h)

        def split(x):
            return x.view(b, t, self.heads, width).transpose(1, 2)

        q, k, v = split(self.query(a)), split(self.key(a)), split(self.value(a))
        scores = q @ k.transpose(-1, -2) / math.sqrt(width) + mask
        probs = F.dropout(torch.softmax(scores, -1), self.dropout, self.training)
        attended = (probs @ v).transpose(1, 2).reshape(b, t, d)
        h = h + F.dropout(self.output(attended), self.dropout, self.training)
        up = F.gelu(self.mlp_in(self.ln2(h)), approximate="tanh")
        return h + F.dropout(self.mlp_out(up), self.dropout, self.training)


class Transformer(torch.nn.Module):
    def __init__(self, spec):
        super().__init__()
        d = spec["dModel"]
        self.tokens = torch.nn.Parameter(torch.randn(spec["vocabSize"], d) * 0.02)
        self.positions = torch.nn.Parameter(torch.randn(spec["maxLength"], d) * 0.02)
        self.blocks = torch.nn.ModuleList(
            Block(d, spec["heads"], spec["ffn"], spec["dropout"])
            for _ in range(spec["layers"])
        )
        self.final = torch.nn.LayerNorm(d, eps=1e-5)
        self.dropout = spec["dropout"]

    def forward(self, ids):
        t = ids.shape[1]
        h = F.dropout(self.tokens[ids] + self.positions[:t], self.dropout, self.training)
        causal = torch.triu(torch.full((t, t), -1e9), 1)
        padding = (ids == 0).float()[:, None, None, :] * -1e9
        mask = causal + padding
        for block in self.blocks:
            h = block(h, mask)
        return self.final(h) @ self.tokens.t()


def rdrop_step(model, optimizer, ids, labels, alpha=1.0):
    n = ids.shape[0]
    logits = model(torch.cat([ids, ids], 0))
    log_p = torch.log_softmax(logits, -1)
    log_p1, log_p2 = log_p[:n], log_p[n:]
    mask = (ids != 0).float()
    labeled = (labels >= 0).float() * mask
    picked = labels.clamp(min=0).unsqueeze(-1)
    ce_rows = -0.5 * (log_p1.gather(-1, picked) + log_p2.gather(-1, picked)).squeeze(-1)
    kl_rows = 0.5 * ((log_p1.exp() - log_p2.exp()) * (log_p1 - log_p2)).sum(-1)
    ce = (ce_rows * labeled).sum() / labeled.sum().clamp(min=1)
    kl = (kl_rows * mask).sum() / mask.sum().clamp(min=1)
    loss = ce + alpha * kl
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss


def matmul_gflops():
    a, b = torch.randn(512, 512), torch.randn(512, 512)
    times = []
    for _ in range(10):
        start = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - start)
    return 2 * 512**3 / sorted(times[1:])[4] / 1e9


def main():
    spec = json.loads(sys.argv[1])
    rows, steps = int(sys.argv[2]), int(sys.argv[3])
    model = Transformer(spec).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    t, vocab = spec["maxLength"], spec["vocabSize"]
    ids = torch.randint(5, vocab, (rows, t))
    labels = torch.full((rows, t), -1)
    labels[:, :-1] = ids[:, 1:]
    rdrop_step(model, optimizer, ids, labels)  # warm-up
    runs = []
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(steps):
            rdrop_step(model, optimizer, ids, labels)
        runs.append((time.perf_counter() - start) / steps)
    blas = re.search(r"BLAS_INFO=(\w+)", torch.__config__.show())
    print(json.dumps({
        "torch": torch.__version__,
        "blas": blas.group(1) if blas else "unknown",
        "seconds": sorted(runs)[1],
        "matmul_gflops": matmul_gflops(),
    }))


if __name__ == "__main__":
    main()
