"""An independent forward pass of the exported transformer in NumPy, written
from the architecture documented in shared/transformer/model.ts and
docs/transformers.md only (no code of the project): it reads the model's
safetensors, the spec and token ids, and prints the logits as JSON.

    python3 reference_forward.py MODEL.safetensors SPEC.json IDS.json

Tensors (float32; a Dense kernel is [in, out], applied as x W + b):
  embedding/token_embedding [vocab, d], embedding/position_embedding [maxLength, d]
  block{i}_ln1/gamma, /beta [d]; block{i}_query|key|value|output/kernel [d, d], /bias [d]
  block{i}_ln2/gamma, /beta [d]; block{i}_mlp_in/kernel [d, ffn], /bias [ffn]
  block{i}_mlp_out/kernel [ffn, d], /bias [d]; final_ln/gamma, /beta [d]
  logits/kernel [d, classes], /bias [classes] (absent when tied: logits = h E^T)
"""
import json
import struct
import sys

import numpy as np


def load_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n].decode("utf-8"))
    body = data[8 + n :]
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        assert entry["dtype"] == "F32", (name, entry["dtype"])
        start, end = entry["data_offsets"]
        tensors[name] = np.frombuffer(body[start:end], dtype="<f4").reshape(entry["shape"]).astype(np.float64)
    return tensors


def layer_norm(x, gamma, beta, eps=1e-5):
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


def gelu_tanh(x):
    return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))


def softmax(x):
    x = x - x.max(axis=-1, keepdims=True)
    e = np.exp(x)
    return e / e.sum(axis=-1, keepdims=True)


def forward(w, spec, ids):
    ids = np.asarray(ids, dtype=np.int64)
    b, t = ids.shape
    d, heads = spec["dModel"], spec["heads"]
    width = d // heads
    h = w["embedding/token_embedding"][ids] + w["embedding/position_embedding"][:t]
    mask = np.zeros((b, 1, t, t))
    if spec["causal"]:
        mask += np.triu(np.ones((t, t)), k=1) * -1e9
    mask += (ids == 0)[:, None, None, :] * -1e9
    for i in range(spec["layers"]):
        p = f"block{i}_"
        dense = lambda x, name: x @ w[p + name + "/kernel"] + w[p + name + "/bias"]
        a = layer_norm(h, w[p + "ln1/gamma"], w[p + "ln1/beta"])
        split = lambda x: x.reshape(b, t, heads, width).transpose(0, 2, 1, 3)
        q, k, v = (split(dense(a, n)) for n in ("query", "key", "value"))
        probs = softmax(q @ k.transpose(0, 1, 3, 2) / np.sqrt(width) + mask)
        attended = (probs @ v).transpose(0, 2, 1, 3).reshape(b, t, d)
        h = h + dense(attended, "output")
        m = layer_norm(h, w[p + "ln2/gamma"], w[p + "ln2/beta"])
        h = h + dense(gelu_tanh(dense(m, "mlp_in")), "mlp_out")
    h = layer_norm(h, w["final_ln/gamma"], w["final_ln/beta"])
    if spec["output"]["kind"] == "sequence":
        real = (ids != 0)[:, :, None]
        pooled = (h * real).sum(axis=1) / np.maximum(real.sum(axis=1), 1)
        return pooled @ w["logits/kernel"] + w["logits/bias"]
    if spec["tied"]:
        return h @ w["embedding/token_embedding"].T
    return h @ w["logits/kernel"] + w["logits/bias"]


if __name__ == "__main__":
    weights = load_safetensors(sys.argv[1])
    with open(sys.argv[2]) as f:
        spec = json.load(f)
    with open(sys.argv[3]) as f:
        ids = json.load(f)
    print(json.dumps(forward(weights, spec, ids).tolist()))
