"""GGUF fixtures written by llama.cpp's own `gguf` Python package (the independent reference for
`vip5::gguf` and `vip5::quant`), and a checker that reads a bundle written by `trainer export`.

    pip install gguf==0.19.0 numpy
    python tests/gen/gen_bundle_fixtures.py                    # writes tests/fixtures/bundle/
    python tests/gen/gen_bundle_fixtures.py --check model.gguf [--against model-f32.gguf]
    python tests/gen/gen_bundle_fixtures.py --fuzz-seeds fuzz/corpus/bundle_reader

The fixture holds, for each quantization, the f32 source values (`<name>.src`, f32) and gguf-py's
encoding of them (`<name>`): the Rust test re-quantizes the sources and must produce the same bytes,
and must decode gguf-py's bytes to gguf-py's own dequantization (`<name>.deq`, f32).
"""
import argparse
import json
import sys
from pathlib import Path

import numpy as np
import gguf
from gguf import GGMLQuantizationType as Q
from gguf.quants import quantize, dequantize

OUT = Path(__file__).resolve().parents[1] / "fixtures" / "bundle"


def write_fixture():
    OUT.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(2022)
    w = gguf.GGUFWriter(str(OUT / "gguf_py_written.gguf"), arch="vip5-test")
    w.add_uint32("test.u32", 7)
    w.add_string("test.string", "héllo")
    w.add_array("test.strings", ["B000ASIN1", "a title, with spaces"])
    w.add_float32("test.f32", 0.5)
    w.add_bool("test.bool", True)
    for qtype, name in [(Q.F32, "f32"), (Q.F16, "f16"), (Q.Q8_0, "q8_0"), (Q.Q4_0, "q4_0")]:
        # Rows of 64 with a spread of magnitudes, an all-zero block, and exact ties for q4_0.
        src = (rng.standard_normal((5, 64)) * np.array([[0.01], [1.0], [30.0], [0.0], [2.0]])).astype(np.float32)
        src[4, :32] = 1.0
        src[4, 5] = -1.0  # |max| tie: the first of largest magnitude wins
        enc = quantize(src, qtype)
        w.add_tensor(f"t.{name}", enc, raw_dtype=qtype)
        w.add_tensor(f"t.{name}.src", src)
        w.add_tensor(f"t.{name}.deq", dequantize(enc, qtype).astype(np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    print("wrote", OUT / "gguf_py_written.gguf", (OUT / "gguf_py_written.gguf").stat().st_size, "bytes")


TINY_CONFIG = {"vocab_size": 32100, "d_model": 16, "d_kv": 4, "d_ff": 32, "num_heads": 4, "num_encoder_layers": 2,
    "num_decoder_layers": 2, "relative_attention_num_buckets": 32, "relative_attention_max_distance": 128,
    "layer_norm_epsilon": 1e-6, "dropout_rate": 0.1, "feed_forward": "relu", "tie_word_embeddings": True,
    "pad_token_id": 0, "eos_token_id": 1, "decoder_start_token_id": 0, "vip5_inputs": True, "visual_token_id": 32099,
    "feat_dim": 8, "n_vis_tokens": 2, "use_vis_layer_norm": True, "whole_word_vocab": 1024, "category_vocab": 16,
    "use_adapter": True, "reduction_factor": 4, "add_adapter_cross_attn": True, "use_single_adapter": True,
    "train_input_tables": False}


def write_fuzz_seeds(out):
    """Small, valid VIP5 bundles (model and clip-vision) to seed the fuzzer's corpus."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    for kind, qtype in [("model", Q.Q8_0), ("model", Q.Q4_0), ("clip-vision", Q.F16)]:
        name = f"seed_{kind}_{qtype.name.lower()}.gguf"
        w = gguf.GGUFWriter(str(out / name), arch="vip5")
        w.add_uint32("vip5.bundle.version", 1)
        w.add_string("vip5.bundle.kind", kind)
        w.add_string("vip5.bundle.quant", qtype.name.lower())
        if kind == "model":
            w.add_string("vip5.config", json.dumps(TINY_CONFIG))
            w.add_string("vip5.tokenizer.json", "{}")
            w.add_string("vip5.templates", json.dumps([{"id": "A-3", "source": "x"}]))
            w.add_array("vip5.catalog.keys", ["B004OHQR1Q", "SKU-2"])
            w.add_array("vip5.catalog.titles", ["dotting tool", ""])
        else:
            w.add_string("vip5.config", json.dumps({"image_size": 32, "patch_size": 16, "hidden_size": 32,
                "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 4, "projection_dim": 32,
                "layer_norm_eps": 1e-5}))
        m = rng.standard_normal((2, 64)).astype(np.float32)
        w.add_tensor("m.weight", quantize(m, qtype), raw_dtype=qtype)
        w.add_tensor("n.weight", rng.standard_normal(3).astype(np.float32))
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
        print("wrote", out / name, (out / name).stat().st_size, "bytes")


def check(path, against=None):
    r = gguf.GGUFReader(path)
    fields = {k: f for k, f in r.fields.items()}
    arch = bytes(fields["general.architecture"].parts[-1]).decode()
    kind = bytes(fields["vip5.bundle.kind"].parts[-1]).decode()
    cfg = json.loads(bytes(fields["vip5.config"].parts[-1]).decode())
    print(f"gguf-py reads {path}: arch={arch} kind={kind} tensors={len(r.tensors)} config keys={len(cfg)}")
    total = 0
    for t in r.tensors:
        deq = dequantize(t.data, t.tensor_type)
        assert np.isfinite(deq).all(), t.name
        total += deq.size
    print(f"all {len(r.tensors)} tensors dequantize with gguf-py ({total} values, all finite)")
    if against:
        # Re-quantize the f32 bundle's tensors with gguf-py: our writer must give the same bytes.
        ref = {t.name: t for t in gguf.GGUFReader(against).tensors}
        same = 0
        for t in r.tensors:
            src = np.asarray(ref[t.name].data, dtype=np.float32).reshape(t.data.shape[0], -1) if t.tensor_type != Q.F32 else None
            if src is None:
                assert np.array_equal(np.asarray(t.data), np.asarray(ref[t.name].data)), t.name
            else:
                src = np.asarray(ref[t.name].data, dtype=np.float32).reshape(-1, int(t.shape[0]))
                enc = quantize(src, t.tensor_type)
                assert np.array_equal(enc.reshape(-1).view(np.uint8), np.asarray(t.data).reshape(-1).view(np.uint8)), t.name
            same += 1
        print(f"{same} tensors byte-identical to gguf-py's own encoding of {against}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--check")
    ap.add_argument("--against", help="the f32 bundle of the same model")
    ap.add_argument("--fuzz-seeds", help="write small valid bundles into this corpus folder")
    a = ap.parse_args()
    if a.fuzz_seeds:
        write_fuzz_seeds(a.fuzz_seeds)
    elif a.check:
        check(a.check, a.against)
    else:
        write_fixture()
