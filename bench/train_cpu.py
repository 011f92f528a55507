#!/usr/bin/env python3
"""PyTorch side of bench/train_cpu.sh: the VIP5 reference of tests/gen/gen_model_fixtures.py (HF T5 +
adapters + visual mapping + whole-word/category tables) with an AdamW step, on the same fixed-shape
inputs as `trainer bench-train`; prints samples/s."""
import argparse
import resource
import os
import sys
import time

import torch
from transformers import T5Config, T5ForConditionalGeneration

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "gen"))
from gen_model_fixtures import Adapter, RMSNorm  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--preset", default="demo")
ap.add_argument("--mode", default="adapters", choices=["adapters", "full"])
ap.add_argument("--batch", type=int, default=32)
ap.add_argument("--input-len", type=int, default=64)
ap.add_argument("--images", type=int, default=8)
ap.add_argument("--target-len", type=int, default=4)
ap.add_argument("--steps", type=int, default=10)
ap.add_argument("--threads", type=int, default=2)
args = ap.parse_args()
torch.set_num_threads(args.threads)
torch.manual_seed(1)

PRESETS = {
    "demo": dict(d_model=128, d_kv=32, d_ff=512, num_heads=4, num_layers=2, num_decoder_layers=2, r=4),
    "t5-small": dict(d_model=512, d_kv=64, d_ff=2048, num_heads=8, num_layers=6, num_decoder_layers=6, r=8),
}
p = dict(PRESETS[args.preset])
r = p.pop("r")
cfg = T5Config(vocab_size=32100, dropout_rate=0.1, feed_forward_proj="relu", tie_word_embeddings=True,
               decoder_start_token_id=0, pad_token_id=0, eos_token_id=1, **p)
model = T5ForConditionalGeneration(cfg).train()
d, k, feat = cfg.d_model, 2, 512
ww, cat = torch.nn.Embedding(1024, d), torch.nn.Embedding(16, d)
vis = torch.nn.Sequential(torch.nn.Linear(feat, d * k // 2), torch.nn.Tanh(), torch.nn.Linear(d * k // 2, d * k), RMSNorm(d * k))
adapters = torch.nn.ModuleList()


def hook(mod):
    a = Adapter(d, r)
    adapters.append(a)
    mod.register_forward_hook(lambda m, i, o: (a(o[0]),) + tuple(o[1:]) if isinstance(o, tuple) else a(o))


for b in model.encoder.block:
    hook(b.layer[0].SelfAttention)
    hook(b.layer[1].DenseReluDense)
for b in model.decoder.block:
    hook(b.layer[0].SelfAttention)
    hook(b.layer[1].EncDecAttention)
    hook(b.layer[2].DenseReluDense)

params = list(adapters.parameters()) + list(vis.parameters())
if args.mode == "adapters":
    for n, q in model.named_parameters():
        q.requires_grad = "layer_norm" in n
    for q in list(ww.parameters()) + list(cat.parameters()):
        q.requires_grad = False
    params += [q for n, q in model.named_parameters() if "layer_norm" in n]
else:
    params += list(model.parameters()) + list(ww.parameters()) + list(cat.parameters())
opt = torch.optim.AdamW(params, lr=1e-4, eps=1e-6, weight_decay=0.01)

B, L = args.batch, args.input_len
ids = torch.tensor([[100 + ((i * 31 + b * 7) % 20000) for i in range(L - 1)] + [1] for b in range(B)])
ids[:, 1:1 + args.images * k] = 32099
whole = torch.tensor([list(range(1, L)) + [0]] * B)
category = (ids == 32099).long()
feats = torch.full((B, args.images, feat), 0.5)
targets = torch.tensor([[200 + (b + t) % 50 for t in range(args.target_len)] for b in range(B)])
dec_in = torch.cat([torch.zeros(B, 1, dtype=torch.long), targets[:, :-1]], 1)


def step():
    emb = model.shared(ids)
    v = vis(feats).reshape(B, args.images * k, d)
    emb = torch.where(category[..., None].bool(), torch.zeros_like(emb), emb)
    emb = emb.masked_scatter(category[..., None].bool().expand_as(emb), v)
    emb = emb + ww(whole) + cat(category)
    logits = model(inputs_embeds=emb, attention_mask=(ids != 0).long(), decoder_input_ids=dec_in).logits
    nll = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), reduction="none")
    loss = (nll.reshape(B, -1).mean(1) / args.target_len).mean()
    opt.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 5.0)
    opt.step()


step()  # warm-up
t0 = time.perf_counter()
for _ in range(args.steps):
    step()
dt = (time.perf_counter() - t0) / args.steps
# The whole process's peak resident memory (ru_maxrss is in KiB on Linux), as the Rust side
# reports its own.
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
print(f"pytorch samples_per_s={B / dt:.2f} step_s={dt:.4f} batch={B} input_len={L} mode={args.mode} preset={args.preset} peak_rss_mb={peak_mb} torch={torch.__version__}")
