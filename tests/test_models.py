"""Tests for model specs, loading, layer validation, preprocessing and activation hooks."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file
from torchvision import transforms

from vitconcepts.errors import ConfigError, InputDataError
from vitconcepts.models import (
    ActivationExtractor,
    build_transform,
    keep_random_patches,
    load_model,
    resolve_model_spec,
    validate_layers,
)
from vitconcepts.models._masking import TimmPatchMask
from vitconcepts.provenance import sha256_file

TIMM_VIT = {
    "source": "timm",
    "weights": "vit_tiny_patch16_224",
    "arch": "vit",
    "pretrained": False,
    "model_kwargs": {"depth": 2, "img_size": 32, "patch_size": 8},
    "input_size": 32,
}
TIMM_CNN = {
    "source": "timm",
    "weights": "resnet18",
    "arch": "cnn",
    "pretrained": False,
    "input_size": 32,
}
HF_VIT = {
    "source": "transformers",
    "weights": "tiny/vit",
    "arch": "vit",
    "pretrained": False,
    "input_size": 32,
    "hf_config": {
        "model_type": "vit",
        "hidden_size": 32,
        "num_hidden_layers": 3,
        "num_attention_heads": 2,
        "intermediate_size": 64,
        "image_size": 32,
        "patch_size": 8,
    },
}
HF_MAE_CONFIG = {
    **HF_VIT["hf_config"],
    "model_type": "vit_mae",
    "decoder_hidden_size": 16,
    "decoder_num_hidden_layers": 1,
    "decoder_num_attention_heads": 2,
    "decoder_intermediate_size": 32,
}


# -- reference forward passes (no hooks), shared with test_activations -----------------------
def reference_timm_vit(model, x: torch.Tensor) -> list[torch.Tensor]:
    """CLS token after each block, running the ViT by hand."""
    with torch.no_grad():
        h = model.norm_pre(model.patch_drop(model._pos_embed(model.patch_embed(x))))
        outs = []
        for block in model.blocks:
            h = block(h)
            outs.append(h[:, 0].clone())
    return outs


def reference_timm_resnet(model, x: torch.Tensor) -> list[torch.Tensor]:
    """Spatial mean of the stem convolution and of each stage, running the ResNet by hand."""
    with torch.no_grad():
        stem = model.conv1(x)
        outs = [stem.mean(dim=(2, 3))]
        h = model.maxpool(model.act1(model.bn1(stem)))
        for stage in (model.layer1, model.layer2, model.layer3, model.layer4):
            h = stage(h)
            outs.append(h.mean(dim=(2, 3)))
    return outs


def reference_hf(model, x: torch.Tensor) -> list[torch.Tensor]:
    """CLS token of hidden_states[i + 1] from transformers' own output."""
    with torch.no_grad():
        hidden = model(x, output_hidden_states=True).hidden_states
    return [h[:, 0] for h in hidden[1:]]


def _spec(entry, key="m", **changes):
    return resolve_model_spec(key, {**entry, **changes})


# -- specs -----------------------------------------------------------------------------------
def test_spec_defaults():
    spec = _spec(TIMM_VIT)
    assert (spec.units, spec.preprocessing, spec.mask_ratio, spec.layers) == (
        ("cls",),
        "paper",
        None,  # the checkpoint's own mask ratio (none for a timm ViT)
        None,
    )
    cnn = _spec(TIMM_CNN)
    assert cnn.units == ("spatial_mean",)
    authors = _spec(HF_VIT, layers="vit.encoder.layer[0], vit.encoder.layer[2]")
    assert authors.layers == ("vit.encoder.layer.0", "vit.encoder.layer.2")
    json.dumps(spec.to_dict())  # serialisable for fingerprints


@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        ({"source": "torchhub"}, r"models\.m\.source is 'torchhub'; allowed values are timm"),
        ({"arch": "rnn"}, r"models\.m\.arch"),
        ({"units": "max"}, r"models\.m\.units"),
        ({"preprocessing": "clip"}, r"models\.m\.preprocessing"),
        ({"mask_ratio": 1.5}, r"models\.m\.mask_ratio"),
        ({"layer": ["blocks.0"]}, r"models\.m has unknown keys layer"),
        ({"weights": ""}, r"models\.m\.weights is missing"),
    ],
)
def test_spec_errors_name_the_key(changes, needle):
    with pytest.raises(ConfigError, match=needle):
        _spec(TIMM_VIT, **changes)


def test_wrong_layer_name_lists_valid_ones():
    spec = _spec(TIMM_VIT, layers=["blocks.0", "blocks.7"])
    model = load_model(spec)
    with pytest.raises(ConfigError) as info:
        validate_layers(spec, model)
    message = str(info.value)
    assert "models.m.layers" in message and "'blocks.7'" in message
    assert "blocks.0, blocks.1" in message


def test_unknown_timm_name_is_a_config_error():
    with pytest.raises(ConfigError, match=r"models\.m\.weights 'no_such_net'"):
        load_model(_spec(TIMM_VIT, weights="no_such_net"))


# -- extraction equals a direct forward pass -------------------------------------------------
def test_timm_vit_cls_tokens():
    spec = _spec(TIMM_VIT)
    model = load_model(spec)
    x = torch.randn(4, 3, 32, 32)
    got = ActivationExtractor(model, spec)(x)
    assert list(got) == ["blocks.0", "blocks.1"]
    for out, ref in zip(got.values(), reference_timm_vit(model, x), strict=True):
        assert out.dtype == torch.float32 and out.shape == (4, 192)
        torch.testing.assert_close(out, ref)


def test_timm_resnet_spatial_means():
    spec = _spec(TIMM_CNN)
    model = load_model(spec)
    x = torch.randn(3, 3, 32, 32)
    got = ActivationExtractor(model, spec)(x)
    assert list(got) == ["conv1", "layer1", "layer2", "layer3", "layer4"]
    assert [v.shape[1] for v in got.values()] == [64, 64, 128, 256, 512]
    for out, ref in zip(got.values(), reference_timm_resnet(model, x), strict=True):
        torch.testing.assert_close(out, ref)


def test_hf_vit_from_config_and_authors_layer_names():
    spec = _spec(HF_VIT)
    model = load_model(spec)
    x = torch.randn(2, 3, 32, 32)
    got = ActivationExtractor(model, spec)(x)
    refs = reference_hf(model, x)
    assert len(got) == 3
    for out, ref in zip(got.values(), refs, strict=True):
        torch.testing.assert_close(out, ref)
    # the authors' spelling (transformers 4) resolves to the same modules
    authors = _spec(HF_VIT, layers=["vit.encoder.layer[0]", "vit.encoder.layer[2]"])
    named = ActivationExtractor(model, authors)(x)
    assert list(named) == [list(got)[0], list(got)[2]]
    torch.testing.assert_close(list(named.values())[1], refs[2])


def test_same_seed_same_random_init():
    a = load_model(_spec(TIMM_VIT, seed=3))
    b = load_model(_spec(TIMM_VIT, seed=3))
    c = load_model(_spec(TIMM_VIT, seed=4))
    torch.testing.assert_close(a.pos_embed, b.pos_embed)
    assert not torch.equal(a.pos_embed, c.pos_embed)


# -- pretrained weights from a manifest ------------------------------------------------------
def _manifest(folder, weights_file):
    manifest = {
        "model": "m",
        "weights_file": weights_file,
        "weights_sha256": sha256_file(folder / weights_file),
        "files": {},
    }
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder / "manifest.json"


def test_timm_weights_loaded_from_manifest(tmp_path):
    source = load_model(_spec(TIMM_VIT, seed=11))
    save_file(source.state_dict(), tmp_path / "model.safetensors")
    manifest = _manifest(tmp_path, "model.safetensors")
    model = load_model(_spec(TIMM_VIT, pretrained=True, seed=0), manifest)
    torch.testing.assert_close(model.pos_embed, source.pos_embed)
    torch.testing.assert_close(model.blocks[1].mlp.fc2.weight, source.blocks[1].mlp.fc2.weight)

    (tmp_path / "model.safetensors").write_bytes(b"tampered")
    with pytest.raises(InputDataError, match="does not match the sha256"):
        load_model(_spec(TIMM_VIT, pretrained=True), manifest)


def test_transformers_weights_loaded_from_manifest(tmp_path):
    source = load_model(_spec(HF_VIT, seed=5))
    source.save_pretrained(tmp_path)
    manifest = _manifest(tmp_path, "model.safetensors")
    model = load_model(_spec(HF_VIT, pretrained=True, hf_config=None, seed=0), manifest)
    loaded = model.state_dict()
    assert set(loaded) == set(source.state_dict())
    for name, value in source.state_dict().items():
        torch.testing.assert_close(loaded[name], value, msg=name)


def test_transformers_models_load_in_float32(tmp_path):
    """transformers 5 defaults to dtype="auto" (the checkpoint's); the paper ran float32."""
    source = load_model(_spec(HF_VIT, seed=5)).half()
    source.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["dtype"] == "float16"
    manifest = _manifest(tmp_path, "model.safetensors")
    model = load_model(_spec(HF_VIT, pretrained=True, hf_config=None), manifest)
    assert {p.dtype for p in model.parameters()} == {torch.float32}
    torch.testing.assert_close(
        model.vit.embeddings.cls_token, source.vit.embeddings.cls_token.float()
    )
    half_config = {**HF_VIT["hf_config"], "dtype": "float16"}  # random init from a config
    random_init = load_model(_spec(HF_VIT, hf_config=half_config))
    assert {p.dtype for p in random_init.parameters()} == {torch.float32}


# -- MAE masking -----------------------------------------------------------------------------
def test_keep_random_patches_matches_hf_random_masking():
    from transformers import ViTMAEConfig
    from transformers.models.vit_mae.modeling_vit_mae import ViTMAEEmbeddings

    config = ViTMAEConfig(**{k: v for k, v in HF_MAE_CONFIG.items() if k != "model_type"})
    config.mask_ratio = 0.75
    embeddings = ViTMAEEmbeddings(config)
    patches, cls = torch.randn(2, 16, 32), torch.randn(2, 1, 32)
    noise = torch.rand(2, 16)
    hf_kept, _, _ = embeddings.random_masking(patches, noise)
    ours = keep_random_patches(torch.cat([cls, patches], 1), noise, 0.75, prefix=1)
    torch.testing.assert_close(ours[:, 1:], hf_kept)
    torch.testing.assert_close(ours[:, :1], cls)


def test_timm_masking_is_seeded_per_sample():
    spec = _spec(TIMM_VIT, mask_ratio=0.5)
    extractor = ActivationExtractor(load_model(spec), spec)
    x = torch.randn(3, 3, 32, 32)
    full = extractor(x, torch.tensor([0, 1, 2]))["blocks.1"]
    tail = extractor(x[1:], torch.tensor([1, 2]))["blocks.1"]
    torch.testing.assert_close(full[1:], tail)  # same sample -> same mask, whatever the batch
    plain_spec = _spec(TIMM_VIT)
    unmasked = ActivationExtractor(load_model(plain_spec), plain_spec)(x)["blocks.1"]
    assert not torch.allclose(full, unmasked, atol=1e-3)


def test_mask_ratio_left_out_keeps_the_checkpoints_own():
    # facebook/vit-mae-base's config says 0.75: a config without mask_ratio must not unmask it
    entry = {**HF_VIT, "hf_config": {**HF_MAE_CONFIG, "mask_ratio": 0.6}}
    assert _spec(entry).mask_ratio is None
    assert load_model(_spec(entry)).config.mask_ratio == 0.6
    assert load_model(_spec(entry, mask_ratio=None)).config.mask_ratio == 0.6
    assert load_model(_spec(entry, mask_ratio=0.0)).config.mask_ratio == 0.0
    assert load_model(_spec(entry, mask_ratio=0.3)).config.mask_ratio == 0.3
    timm_model = load_model(_spec(TIMM_VIT))  # a timm ViT has no mask ratio of its own
    assert not isinstance(getattr(timm_model, "patch_drop", None), TimmPatchMask)


def test_hf_mae_mask_ratio_zero_keeps_all_patches():
    entry = {**HF_VIT, "hf_config": HF_MAE_CONFIG, "mask_ratio": 0.0}
    spec = _spec(entry)
    model = load_model(spec)
    assert model.config.mask_ratio == 0.0 and type(model).__name__ == "ViTMAEForPreTraining"
    x = torch.randn(2, 3, 32, 32)
    got = ActivationExtractor(model, spec)(x)
    identity_order = torch.arange(16, dtype=torch.float32).expand(2, 16)
    with torch.no_grad():
        hidden = model.vit(x, noise=identity_order, output_hidden_states=True).hidden_states
    for out, ref in zip(got.values(), hidden[1:], strict=True):
        torch.testing.assert_close(out, ref[:, 0], atol=1e-5, rtol=1e-4)
    masked_spec = _spec(entry, mask_ratio=0.75)
    masked = ActivationExtractor(load_model(masked_spec), masked_spec)(x)
    assert not torch.allclose(list(masked.values())[-1], list(got.values())[-1], atol=1e-3)


# -- preprocessing ---------------------------------------------------------------------------
def test_paper_transform_is_the_authors():
    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (300, 400, 3), np.uint8))
    spec = _spec(TIMM_VIT, input_size=224)
    ours = build_transform(spec, None)(image)
    authors = transforms.Compose(
        [
            transforms.Resize(256),
            transforms.CenterCrop(224),
            transforms.ToTensor(),
            transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
        ]
    )(image)
    torch.testing.assert_close(ours, authors)
    native = build_transform(_spec(TIMM_VIT, preprocessing="native"), load_model(spec))(image)
    assert native.shape[0] == 3


def test_authors_clip_layer_names_on_a_bare_clip_vision_model():
    config = {**HF_VIT["hf_config"], "model_type": "clip_vision_model"}
    names = ["vision_model.encoder.layers[0]", "vision_model.encoder.layers[2]"]
    spec = _spec(HF_VIT, hf_config=config, layers=names)
    model = load_model(spec)
    assert type(model).__name__ == "CLIPVisionModel"
    x = torch.randn(2, 3, 32, 32)
    got = list(ActivationExtractor(model, spec)(x).values())
    refs = reference_hf(model, x)
    torch.testing.assert_close(got[0], refs[0])
    torch.testing.assert_close(got[1], refs[2])


def test_hf_resnet_embedder_and_stages():
    entry = {
        **HF_VIT,
        "arch": "cnn",
        "hf_config": {
            "model_type": "resnet",
            "embedding_size": 8,
            "hidden_sizes": [8, 16, 16, 32],
            "depths": [1, 1, 1, 1],
        },
    }
    spec = _spec(entry)
    model = load_model(spec)
    x = torch.randn(2, 3, 32, 32)
    got = ActivationExtractor(model, spec)(x)
    assert list(got) == ["resnet.embedder", *[f"resnet.encoder.stages.{i}" for i in range(4)]]
    with torch.no_grad():
        hidden = model(x, output_hidden_states=True).hidden_states  # embedder, then stages
    for out, ref in zip(got.values(), hidden, strict=True):
        torch.testing.assert_close(out, ref.mean(dim=(2, 3)))
