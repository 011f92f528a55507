#!/usr/bin/env python3
"""PyTorch side of the CLIP CPU benchmark (bench/clip_cpu.sh): random ViT-B/32 weights saved for the
Rust side, then images/s of HF CLIPVisionModelWithProjection on the CPU with the given threads."""
import argparse
import json
import os
import time

import torch
from safetensors.torch import save_file
from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

ap = argparse.ArgumentParser()
ap.add_argument("--dir", required=True)
ap.add_argument("--images", type=int, default=32)
ap.add_argument("--batch", type=int, default=8)
ap.add_argument("--threads", type=int, default=2)
args = ap.parse_args()

torch.manual_seed(0)
torch.set_num_threads(args.threads)
cfg = CLIPVisionConfig(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
                       image_size=224, patch_size=32, projection_dim=512)
model = CLIPVisionModelWithProjection(cfg).eval()
os.makedirs(args.dir, exist_ok=True)
save_file({k: v.contiguous() for k, v in model.state_dict().items()}, os.path.join(args.dir, "model.safetensors"))
with open(os.path.join(args.dir, "config.json"), "w") as f:
    json.dump(cfg.to_dict(), f)

x = torch.randn(args.batch, 3, 224, 224)
with torch.inference_mode():
    model(pixel_values=x)  # warm-up
    t0 = time.perf_counter()
    n = 0
    while n < args.images:
        model(pixel_values=x)
        n += args.batch
    dt = time.perf_counter() - t0
print(f"pytorch images_per_s={n / dt:.2f} threads={args.threads} batch={args.batch} torch={torch.__version__}")
