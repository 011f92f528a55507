#!/usr/bin/env python3
"""CLIP fixtures for tests/tests/clip.rs, from Hugging Face `transformers` (torch, torchvision, PIL).

Run from the repository root: python3 tests/gen/gen_clip_fixtures.py
Needs: torch, torchvision, transformers, safetensors, pillow, scikit-image (its bundled sample
photographs, public domain / CC0: see tests/fixtures/clip/photos/PROVENANCE.md).

Writes tests/fixtures/clip/:
  photos/*.png            real photographs, downscaled and stored losslessly (PNG)
  pixels.safetensors      CLIPImageProcessor()'s pixel_values for each photo ([3, 224, 224])
  tiny/config.json        a small random CLIP (text + vision towers, as a full CLIP checkpoint)
  tiny/model.safetensors  its weights with HF names (the text tower must be skipped on load)
  tiny/outputs.safetensors  random pixels and CLIPModel.get_image_features() for them
  vit_b_32_names.json     tensor names and shapes of CLIPVisionModelWithProjection (ViT-B/32)
"""
import json
import os

import numpy as np
import skimage
import torch
from PIL import Image
from safetensors.torch import save_file
from transformers import (
    CLIPConfig,
    CLIPImageProcessor,
    CLIPModel,
    CLIPVisionConfig,
    CLIPVisionModelWithProjection,
)

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "clip")
SKDATA = os.path.join(os.path.dirname(skimage.__file__), "data")
torch.manual_seed(7)

# (source file, target size): varied aspect ratios, odd crop offsets, and one upscaled image.
PHOTOS = [
    ("chelsea.png", (301, 200)),  # landscape, odd width
    ("coffee.png", (330, 220)),
    ("astronaut.png", (240, 240)),  # square
    ("rocket.jpg", (227, 341)),  # portrait, odd sizes (stored as PNG: the fixture is lossless)
    ("chelsea.png", (150, 100)),  # smaller than 224: the resize upsamples
]


def photos():
    os.makedirs(os.path.join(ROOT, "photos"), exist_ok=True)
    processor = CLIPImageProcessor()
    pixels = {}
    for src, size in PHOTOS:
        img = Image.open(os.path.join(SKDATA, src)).convert("RGB").resize(size, Image.LANCZOS)
        name = f"{os.path.splitext(src)[0]}_{size[0]}x{size[1]}"
        img.save(os.path.join(ROOT, "photos", name + ".png"), optimize=True)
        # Reload the PNG so the reference sees exactly the committed bytes.
        again = Image.open(os.path.join(ROOT, "photos", name + ".png")).convert("RGB")
        pv = processor(images=again, return_tensors="pt")["pixel_values"][0]
        pixels[name] = pv.contiguous()
        print(name, tuple(pv.shape))
    save_file(pixels, os.path.join(ROOT, "pixels.safetensors"))


def tiny_clip():
    vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                  image_size=32, patch_size=8)
    text = dict(hidden_size=24, intermediate_size=48, num_hidden_layers=1, num_attention_heads=2,
                vocab_size=99, max_position_embeddings=16)
    config = CLIPConfig(text_config=text, vision_config=vision, projection_dim=16)
    model = CLIPModel(config).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "layer_norm" in name or "layrnorm" in name or "layernorm" in name:
                p.add_(0.2 * torch.randn_like(p))
    pixels = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        out = model.get_image_features(pixel_values=pixels)
        feats = out.pooler_output if hasattr(out, "pooler_output") else out
    path = os.path.join(ROOT, "tiny")
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(config.to_dict(), f, indent=2, sort_keys=True, default=str)
        f.write("\n")
    sd = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    save_file(sd, os.path.join(path, "model.safetensors"))
    save_file({"pixels": pixels, "features": feats.contiguous()}, os.path.join(path, "outputs.safetensors"))
    print("tiny clip features", tuple(feats.shape))


def vit_b_32_names():
    # The real openai/clip-vit-base-patch32 vision config; weights are random and not saved.
    cfg = CLIPVisionConfig(hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                           num_attention_heads=12, image_size=224, patch_size=32, projection_dim=512)
    with torch.device("meta"):
        model = CLIPVisionModelWithProjection(cfg)
    names = {k: list(v.shape) for k, v in model.state_dict().items() if "position_ids" not in k}
    with open(os.path.join(ROOT, "vit_b_32_names.json"), "w") as f:
        json.dump(names, f, indent=1, sort_keys=True)
        f.write("\n")
    print("ViT-B/32 tensors:", len(names))


if __name__ == "__main__":
    np.random.seed(0)
    photos()
    tiny_clip()
    vit_b_32_names()
