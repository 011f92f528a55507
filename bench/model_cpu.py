#!/usr/bin/env python3
"""PyTorch side of the inference rows of bench/compare.sh: the model `trainer bench-model --write
DIR` wrote (HF T5 + VIP5's adapters, visual mapping and whole-word/category tables, loaded by
name), the same prompt, and HF `generate` with the same beam settings (with a trie constraint
through `prefix_allowed_tokens_fn`, and without). Prints one JSON document of median seconds.

    python3 bench/model_cpu.py DIR [--threads 2] [--reps 5] [--batches 1,16]
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch
from safetensors.torch import load_file
from transformers import T5Config, T5ForConditionalGeneration

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "gen"))
from gen_model_fixtures import Adapter, RMSNorm  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("dir")
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--reps", type=int, default=5)
ap.add_argument("--batches", default="1,16")
args = ap.parse_args()
torch.set_num_threads(args.threads)

cfg = json.load(open(os.path.join(args.dir, "config.json")))
inputs = json.load(open(os.path.join(args.dir, "inputs.json")))
weights = load_file(os.path.join(args.dir, "model.safetensors"))
if cfg["feed_forward"] not in ("relu", "Relu", "ReLU"):
    sys.exit(f"bench/model_cpu.py handles the ReLU feed-forward of t5-small, not {cfg['feed_forward']}")

hf = T5Config(vocab_size=cfg["vocab_size"], d_model=cfg["d_model"], d_kv=cfg["d_kv"], d_ff=cfg["d_ff"],
              num_heads=cfg["num_heads"], num_layers=cfg["num_encoder_layers"],
              num_decoder_layers=cfg["num_decoder_layers"],
              relative_attention_num_buckets=cfg["relative_attention_num_buckets"],
              relative_attention_max_distance=cfg["relative_attention_max_distance"],
              layer_norm_epsilon=cfg["layer_norm_epsilon"], dropout_rate=0.0, feed_forward_proj="relu",
              tie_word_embeddings=cfg["tie_word_embeddings"], pad_token_id=cfg["pad_token_id"],
              eos_token_id=cfg["eos_token_id"], decoder_start_token_id=cfg["decoder_start_token_id"])
model = T5ForConditionalGeneration(hf).eval()
d, k, r = cfg["d_model"], cfg["n_vis_tokens"], cfg["reduction_factor"]
ww = torch.nn.Embedding(cfg["whole_word_vocab"], d)
cat = torch.nn.Embedding(cfg["category_vocab"], d)
vis_l1 = torch.nn.Linear(cfg["feat_dim"], d * k // 2)
vis_l2 = torch.nn.Linear(d * k // 2, d * k)
vis_norm = RMSNorm(d * k)

t5_state = {n: t for n, t in weights.items() if n in model.state_dict()}
missing = model.load_state_dict(t5_state, strict=False).missing_keys
# HF ties embed_tokens to `shared` (and lm_head too, when tied): those load with shared.weight.
missing = [m for m in missing if not m.endswith("embed_tokens.weight")
           and (m != "lm_head.weight" or not cfg["tie_word_embeddings"])]
if missing:
    sys.exit(f"weights missing for {missing[:5]} ...")
with torch.no_grad():
    ww.weight.copy_(weights["encoder.whole_word_embeddings.weight"])
    cat.weight.copy_(weights["encoder.category_embeddings.weight"])
    vis_l1.weight.copy_(weights["encoder.visual_embedding.feat_embedding.0.model.0.weight"])
    vis_l1.bias.copy_(weights["encoder.visual_embedding.feat_embedding.0.model.0.bias"])
    vis_l2.weight.copy_(weights["encoder.visual_embedding.feat_embedding.0.model.2.weight"])
    vis_l2.bias.copy_(weights["encoder.visual_embedding.feat_embedding.0.model.2.bias"])
    vis_norm.weight.copy_(weights["encoder.visual_embedding.feat_embedding.1.weight"])


def hook(module, prefix):
    a = Adapter(d, r)
    with torch.no_grad():
        for n, p in a.named_parameters():
            p.copy_(weights[f"{prefix}.adapters.sequential.{n}"])
    module.register_forward_hook(lambda m, i, o: (a(o[0]),) + tuple(o[1:]) if isinstance(o, tuple) else a(o))


for i, b in enumerate(model.encoder.block):
    hook(b.layer[0].SelfAttention, f"encoder.block.{i}.layer.0.attn_adapter")
    hook(b.layer[1].DenseReluDense, f"encoder.block.{i}.layer.1.ff_adapter")
for i, b in enumerate(model.decoder.block):
    hook(b.layer[0].SelfAttention, f"decoder.block.{i}.layer.0.attn_adapter")
    if cfg["add_adapter_cross_attn"]:
        hook(b.layer[1].EncDecAttention, f"decoder.block.{i}.layer.1.enc_attn_adapter")
    hook(b.layer[2].DenseReluDense, f"decoder.block.{i}.layer.2.ff_adapter")

ids1 = torch.tensor([inputs["input_ids"]])
whole1 = torch.tensor([inputs["whole_word_ids"]])
feats1 = torch.zeros(1, inputs["images"], cfg["feat_dim"])


def embed(ids, whole, feats):
    """VIP5's encoder input (docs/vip5.md §1.2): token embeddings, visual tokens at the placeholders."""
    category = (ids == cfg["visual_token_id"]).long()
    emb = model.shared(ids)
    v = vis_norm(vis_l2(torch.tanh(vis_l1(feats)))).reshape(ids.shape[0], -1, d)
    emb = emb.masked_scatter(category[..., None].bool().expand_as(emb), v[:, : int(category[0].sum())])
    return emb + ww(whole) + cat(category), (ids != 0).long()


def timed(fn):
    fn()  # warm-up
    runs = []
    for _ in range(args.reps):
        t = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t)
    return statistics.median(runs), runs


rows = []
with torch.inference_mode():
    for b in [int(x) for x in args.batches.split(",")]:
        ids, whole, feats = ids1.repeat(b, 1), whole1.repeat(b, 1), feats1.repeat(b, 1, 1)
        med, runs = timed(lambda: model.encoder(inputs_embeds=embed(ids, whole, feats)[0],
                                                attention_mask=(ids != 0).long()).last_hidden_state)
        rows.append({"name": f"encoder forward, batch {b}", "median_s": med, "runs_s": runs})

    # The item trie: prefix (tuple of generated tokens after the start token) -> allowed next tokens.
    trie = {}
    for seq in inputs["allowed_items"]:
        for i in range(len(seq)):
            trie.setdefault(tuple(seq[:i]), set()).add(seq[i])
    trie = {p: sorted(s) for p, s in trie.items()}
    eos = cfg["eos_token_id"]

    def allowed(_batch, sent):
        return trie.get(tuple(sent.tolist()[1:]), [eos])

    def generate(constrained):
        emb, mask = embed(ids1, whole1, feats1)
        return model.generate(inputs_embeds=emb, attention_mask=mask, num_beams=inputs["beams"],
                              num_return_sequences=inputs["beams"], max_length=inputs["max_length"],
                              early_stopping=True, length_penalty=1.0, do_sample=False,
                              prefix_allowed_tokens_fn=allowed if constrained else None)

    med, runs = timed(lambda: generate(True))
    rows.append({"name": "recommendNext, constrained", "median_s": med, "runs_s": runs})
    # The constrained answer as item ids, for compare.sh to check both sides agree.
    item_of = {tuple(seq): i for seq, i in zip(inputs["allowed_items"], inputs["allowed_item_ids"])}
    top_items = []
    for seq in generate(True).tolist():
        body = seq[1:]  # after the start token, up to the first </s> (finished beams are padded)
        body = body[: body.index(eos) + 1] if eos in body else body
        top_items.append(item_of.get(tuple(body)))
    med, runs = timed(lambda: generate(False))
    rows.append({"name": "beam search, unconstrained", "median_s": med, "runs_s": runs})

import transformers  # noqa: E402

print(json.dumps({"side": "pytorch", "torch": torch.__version__, "transformers": transformers.__version__,
                  "threads": args.threads, "constrained_top_items": top_items, "rows": rows}, indent=2))
