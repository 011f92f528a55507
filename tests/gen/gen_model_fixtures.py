#!/usr/bin/env python3
"""Generate the model parity fixtures in tests/fixtures/ from Hugging Face `transformers`.

Run from the repository root:  python3 tests/gen/gen_model_fixtures.py
Needs: torch, transformers (>= 4.40), safetensors. The Rust tests only read the files this writes.

Fixtures (each a folder with config.json, model.safetensors and outputs.safetensors):
  t5_relu_tied    T5 v1.0 (ReLU FFN, tied head with the d_model^-0.5 rescale), HF T5ForConditionalGeneration
  t5_gated_untied T5 v1.1 / FLAN-T5 style (gated-GELU FFN, untied lm_head)
  vip5_tiny       HF T5 plus the VIP5 additions, written here from docs/vip5.md §1 (independent
                  of the Rust code): visual mapping network, <extra_id_0> substitution, whole-word and
                  category tables, bottleneck adapters after self-attention, cross-attention and FFN.

All configs are small and random; relative-position buckets are shrunk (8 buckets, max distance 16)
so that sequences of ~20 tokens exercise the logarithmic buckets too.
"""
import json
import math
import os
import sys

import torch
from safetensors.torch import save_file
from transformers import T5Config, T5ForConditionalGeneration

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures")
torch.manual_seed(20230519)


def small_config(**overrides):
    cfg = dict(
        vocab_size=128,
        d_model=32,
        d_kv=8,
        d_ff=64,
        num_layers=2,
        num_decoder_layers=3,
        num_heads=4,
        relative_attention_num_buckets=8,
        relative_attention_max_distance=16,
        dropout_rate=0.0,
        layer_norm_epsilon=1e-6,
        feed_forward_proj="relu",
        tie_word_embeddings=True,
        decoder_start_token_id=0,
        pad_token_id=0,
        eos_token_id=1,
    )
    cfg.update(overrides)
    return T5Config(**cfg)


def randomize_norms(model):
    # HF initialises RMS norm gains to 1; random gains make the parity check sensitive to them.
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "layer_norm" in name:
                p.copy_(1.0 + 0.2 * torch.randn_like(p))


def encoder_inputs():
    # batch 2, length 20; the second row is padded (id 0) after 14 tokens
    ids = torch.randint(2, 127, (2, 20))
    ids[0, -1] = 1
    ids[1, 13] = 1
    ids[1, 14:] = 0
    mask = (ids != 0).long()
    return ids, mask


def decoder_inputs():
    dec = torch.randint(2, 127, (2, 6))
    dec[:, 0] = 0  # decoder start token
    return dec


def state_dict_for_save(model):
    # safetensors refuses shared storage: write each tensor once, contiguous; tied lm_head is dropped
    # exactly as HF's own save_pretrained does.
    sd = {}
    for k, v in model.state_dict().items():
        if k in ("encoder.embed_tokens.weight", "decoder.embed_tokens.weight"):
            continue
        if k == "lm_head.weight" and v.data_ptr() == model.shared.weight.data_ptr():
            continue
        sd[k] = v.detach().clone().contiguous()
    return sd


def fresh_cache():
    # An explicit cache: HF sizes its default cache by `num_layers`, which breaks when the decoder
    # has a different depth than the encoder (as these fixtures do on purpose).
    from transformers.cache_utils import DynamicCache, EncoderDecoderCache

    return EncoderDecoderCache(DynamicCache(), DynamicCache())


def cached_step_logits(model, enc_out, mask, dec):
    """Feed the decoder one token at a time with HF's own key/value cache."""
    past = fresh_cache()
    steps = []
    for t in range(dec.shape[1]):
        out = model(
            encoder_outputs=(enc_out,),
            attention_mask=mask,
            decoder_input_ids=dec[:, t : t + 1],
            past_key_values=past,
            use_cache=True,
        )
        past = out.past_key_values
        steps.append(out.logits)
    return torch.cat(steps, dim=1)


def write(name, config_json, weights, outputs):
    path = os.path.join(ROOT, name)
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(config_json, f, indent=2, sort_keys=True)
        f.write("\n")
    save_file(weights, os.path.join(path, "model.safetensors"))
    save_file({k: v.detach().contiguous() for k, v in outputs.items()}, os.path.join(path, "outputs.safetensors"))
    print("wrote", path, {k: tuple(v.shape) for k, v in outputs.items()})


def hf_t5_fixture(name, **overrides):
    config = small_config(**overrides)
    model = T5ForConditionalGeneration(config).eval()
    randomize_norms(model)
    untied = overrides.get("tie_word_embeddings") is False
    if untied:
        # transformers 5 always ties `lm_head` to `shared` and keeps only the "no d_model^-0.5
        # rescale" meaning of tie_word_embeddings=False; real T5 v1.1 / FLAN-T5 checkpoints ship a
        # separate lm_head, so give the fixture one.
        assert not model.config.scale_decoder_outputs
        model.lm_head.weight = torch.nn.Parameter(torch.randn_like(model.shared.weight) * 0.2)
    ids, mask = encoder_inputs()
    dec = decoder_inputs()
    with torch.no_grad():
        enc = model.encoder(input_ids=ids, attention_mask=mask).last_hidden_state
        full = model(encoder_outputs=(enc,), attention_mask=mask, decoder_input_ids=dec).logits
        cached = cached_step_logits(model, enc, mask, dec)
        outputs = dict(
            input_ids=ids.to(torch.int64),
            attention_mask=mask.to(torch.int64),
            decoder_input_ids=dec.to(torch.int64),
            encoder_hidden=enc,
            logits=full,
            logits_cached=cached,
        )
        # Decoding references (HF `generate` semantics) for the decoding issue.
        greedy = model.generate(input_ids=ids, attention_mask=mask, max_length=8, do_sample=False, num_beams=1, past_key_values=fresh_cache())
        outputs["greedy_sequences"] = torch.nn.functional.pad(greedy, (0, 8 - greedy.shape[1])).to(torch.int64)
        beam = model.generate(
            input_ids=ids,
            attention_mask=mask,
            max_length=8,
            num_beams=4,
            num_return_sequences=4,
            early_stopping=True,
            length_penalty=1.0,
            do_sample=False,
            output_scores=True,
            return_dict_in_generate=True,
            past_key_values=fresh_cache(),
        )
        seqs = beam.sequences
        outputs["beam_sequences"] = torch.nn.functional.pad(seqs, (0, 8 - seqs.shape[1])).to(torch.int64)
        outputs["beam_scores"] = beam.sequences_scores
        # A second setting: fewer returns than beams, a length penalty, no early stopping.
        beam2 = model.generate(
            input_ids=ids,
            attention_mask=mask,
            max_length=10,
            num_beams=3,
            num_return_sequences=2,
            early_stopping=False,
            length_penalty=0.7,
            do_sample=False,
            output_scores=True,
            return_dict_in_generate=True,
            past_key_values=fresh_cache(),
        )
        seqs = beam2.sequences
        outputs["beam2_sequences"] = torch.nn.functional.pad(seqs, (0, 10 - seqs.shape[1])).to(torch.int64)
        outputs["beam2_scores"] = beam2.sequences_scores
    cfg = config.to_dict()
    cfg["tie_word_embeddings"] = not untied
    write(name, cfg, state_dict_for_save(model), outputs)


# ---------------------------------------------------------------------------------------------
# VIP5 reference (docs/vip5.md §1), built on HF T5 with forward hooks for the adapters.
# ---------------------------------------------------------------------------------------------
def gelu_tanh(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


class Adapter(torch.nn.Module):
    def __init__(self, d, r):
        super().__init__()
        self.down_sampler = torch.nn.Linear(d, d // r)
        self.up_sampler = torch.nn.Linear(d // r, d)

    def forward(self, y):
        # y' = y + Up(GELU_tanh(Down(y)))   (docs/vip5.md §1.4)
        return y + self.up_sampler(gelu_tanh(self.down_sampler(y)))


class RMSNorm(torch.nn.Module):
    def __init__(self, n, eps=1e-6):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(n))
        self.eps = eps

    def forward(self, x):
        var = x.pow(2).mean(-1, keepdim=True)
        return self.weight * (x * torch.rsqrt(var + self.eps))


def vip5_fixture():
    visual_token = 127
    feat_dim, k, r = 12, 2, 4
    config = small_config()
    t5 = T5ForConditionalGeneration(config).eval()
    randomize_norms(t5)
    d = config.d_model
    ww = torch.nn.Embedding(1024, d)
    cat = torch.nn.Embedding(16, d)
    vis_l1 = torch.nn.Linear(feat_dim, d * k // 2)
    vis_l2 = torch.nn.Linear(d * k // 2, d * k)
    vis_norm = RMSNorm(d * k)
    with torch.no_grad():
        vis_norm.weight.copy_(1.0 + 0.2 * torch.randn(d * k))

    weights = state_dict_for_save(t5)
    adapters = []

    def add_adapter(module, prefix):
        a = Adapter(d, r)
        with torch.no_grad():
            for p in a.parameters():
                p.mul_(3.0)  # larger than default so the adapters visibly change the outputs
        adapters.append(a)
        module.register_forward_hook(lambda mod, inp, out: (a(out[0]),) + tuple(out[1:]) if isinstance(out, tuple) else a(out))
        for n, p in a.named_parameters():
            weights[f"{prefix}.adapters.sequential.{n}"] = p.detach().clone().contiguous()

    for i, block in enumerate(t5.encoder.block):
        add_adapter(block.layer[0].SelfAttention, f"encoder.block.{i}.layer.0.attn_adapter")
        add_adapter(block.layer[1].DenseReluDense, f"encoder.block.{i}.layer.1.ff_adapter")
    for i, block in enumerate(t5.decoder.block):
        add_adapter(block.layer[0].SelfAttention, f"decoder.block.{i}.layer.0.attn_adapter")
        add_adapter(block.layer[1].EncDecAttention, f"decoder.block.{i}.layer.1.enc_attn_adapter")
        add_adapter(block.layer[2].DenseReluDense, f"decoder.block.{i}.layer.2.ff_adapter")

    weights["encoder.whole_word_embeddings.weight"] = ww.weight.detach().clone()
    weights["encoder.category_embeddings.weight"] = cat.weight.detach().clone()
    weights["encoder.visual_embedding.feat_embedding.0.model.0.weight"] = vis_l1.weight.detach().clone()
    weights["encoder.visual_embedding.feat_embedding.0.model.0.bias"] = vis_l1.bias.detach().clone()
    weights["encoder.visual_embedding.feat_embedding.0.model.2.weight"] = vis_l2.weight.detach().clone()
    weights["encoder.visual_embedding.feat_embedding.0.model.2.bias"] = vis_l2.bias.detach().clone()
    weights["encoder.visual_embedding.feat_embedding.1.weight"] = vis_norm.weight.detach().clone()

    # Inputs: two prompts with 3 and 2 items, k placeholders after each item; the second is padded.
    B, L, V = 2, 20, 3
    ids = torch.randint(2, 120, (B, L))
    ids[0, [3, 4, 8, 9, 14, 15]] = visual_token
    ids[0, -1] = 1
    ids[1, [2, 3, 7, 8]] = visual_token
    ids[1, 12] = 1
    ids[1, 13:] = 0
    mask = (ids != 0).long()
    category = (ids == visual_token).long()
    whole = torch.zeros_like(ids)
    for b in range(B):
        n = int(mask[b].sum()) - 1  # `</s>` and padding get whole-word id 0
        whole[b, :n] = torch.randint(1, 30, (n,)).sort().values
    feats = torch.randn(B, V, feat_dim) * 3.0
    feats[1, 2] = 0.0  # the second prompt has 2 items: its third row is batch padding
    dec = decoder_inputs()

    with torch.no_grad():
        emb = t5.shared(ids)
        vis = vis_norm(vis_l2(torch.tanh(vis_l1(feats)))).reshape(B, V * k, d)
        for b in range(B):
            pos = torch.where(category[b] == 1)[0]
            emb[b, pos] = vis[b, : len(pos)]
        emb = emb + ww(whole) + cat(category)
        enc = t5.encoder(inputs_embeds=emb, attention_mask=mask).last_hidden_state
        full = t5(encoder_outputs=(enc,), attention_mask=mask, decoder_input_ids=dec).logits
        cached = cached_step_logits(t5, enc, mask, dec)

    cfg = config.to_dict()
    cfg["vip5"] = dict(visual_token_id=visual_token, feat_dim=feat_dim, n_vis_tokens=k, reduction_factor=r)
    outputs = dict(
        input_ids=ids.to(torch.int64),
        attention_mask=mask.to(torch.int64),
        whole_word_ids=whole.to(torch.int64),
        category_ids=category.to(torch.int64),
        vis_feats=feats,
        decoder_input_ids=dec.to(torch.int64),
        encoder_hidden=enc,
        logits=full,
        logits_cached=cached,
    )
    write("vip5_tiny", cfg, weights, outputs)


if __name__ == "__main__":
    hf_t5_fixture("t5_relu_tied")
    hf_t5_fixture("t5_gated_untied", feed_forward_proj="gated-gelu", tie_word_embeddings=False)
    vip5_fixture()
    print("transformers", __import__("transformers").__version__, "torch", torch.__version__, file=sys.stderr)
