"""The paper's networks, built offline at real size from their documented hub config values.

Weights cannot be downloaded here, so identity is checked on the architecture: each paper
checkpoint is built randomly initialised from the values in
``vitconcepts.paper_architectures.PAPER_ARCHITECTURES`` (copied from its hub ``config.json``, see
``docs/fidelity.md``) through the same ``load_model`` the pipeline uses, and must have the
documented facts; its extracted units must be the CLS token of ``hidden_states[1:]`` (and
the other unit kinds: the patch mean of the same, the MLP activation's output at the CLS
token and over the patches), and wrong extractors must fail that comparison. timm's
look-alikes of the same checkpoints must fail the check.
"""

from __future__ import annotations

from dataclasses import replace
from functools import cache
from pathlib import Path

import pytest
import torch
import yaml

import vitconcepts.models._extraction as extraction
from vitconcepts.errors import ConfigError
from vitconcepts.models import ActivationExtractor, load_model, mask_noise, resolve_model_spec
from vitconcepts.paper_architectures import (
    PAPER_ARCHITECTURES,
    check_identity,
    check_paper_model,
    identity_mismatches,
    vit_facts,
)

ROOT = Path(__file__).resolve().parents[1]
TRANSFORMERS_IDS = [k for k, a in PAPER_ARCHITECTURES.items() if a.source == "transformers"]


def _paper_spec(weights: str, **changes):
    arch = PAPER_ARCHITECTURES[weights]
    entry = {
        "source": arch.source,
        "weights": weights,
        "arch": arch.arch,
        "pretrained": False,
        "mask_ratio": arch.mask_ratio,
        "seed": 1,
    }
    if arch.source == "transformers":
        entry["hf_config"] = arch.hf_config
    return resolve_model_spec("paper", {**entry, **changes})


@cache
def _built(weights: str):
    spec = _paper_spec(weights)
    return spec, load_model(spec)


@cache
def _images() -> torch.Tensor:
    return torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))


def test_paper_config_names_the_authors_checkpoints():
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    expected = {
        "vit": "google/vit-base-patch16-224-in21k",
        "dinov2": "facebook/dinov2-base",
        "clip": "openai/clip-vit-base-patch16",
        "mae": "facebook/vit-mae-base",
        "resnet": "resnet50.tv_in1k",
    }
    for key, weights in expected.items():
        entry = config["models"][key]
        arch = PAPER_ARCHITECTURES[weights]
        assert (entry["weights"], entry["source"]) == (weights, arch.source), key
        assert float(entry.get("mask_ratio", 0.0)) == arch.mask_ratio, key
    assert config["dump"]["dtype"] == "float32"
    # the finetuned copies run through the same code path as their base model
    for key, entry in config["models"].items():
        parent = entry.get("finetuned_from")
        if parent and config["models"][parent]["source"] == "transformers":
            assert entry["source"] == "transformers", key


@pytest.mark.slow  # real-size ViT-B, random init: about 30 s together on 2 cores
@pytest.mark.parametrize("weights", TRANSFORMERS_IDS)
def test_paper_network_has_the_documented_facts(weights):
    spec, model = _built(weights)
    arch = PAPER_ARCHITECTURES[weights]
    assert type(model).__name__ == arch.model_class
    assert check_identity(spec, model) is arch
    assert all(p.dtype == torch.float32 for p in model.parameters())
    facts = vit_facts(model)
    assert facts["hidden_act"] == arch.hidden_act
    assert facts["layer_norm_eps"] == [arch.layer_norm_eps]
    assert (facts["num_blocks"], facts["hidden_size"]) == (12, 768)
    assert facts["position_rows"] == (arch.image_size // arch.patch_size) ** 2 + 1
    assert facts["layerscale"] == (weights == "facebook/dinov2-base")


@pytest.mark.slow  # real-size ViT-B, random init: about 30 s together on 2 cores
def test_clip_runs_quickgelu_and_its_own_layer_norm_eps():
    from transformers.activations import QuickGELUActivation

    _, model = _built("openai/clip-vit-base-patch16")
    mlp = model.vision_model.encoder.layers[0].mlp
    assert isinstance(mlp.activation_fn, QuickGELUActivation)
    assert model.vision_model.pre_layrnorm.eps == 1e-5
    assert model.vision_model.encoder.layers[11].layer_norm2.eps == 1e-5


@pytest.mark.slow  # real-size ViT-B, random init: about 30 s together on 2 cores
@pytest.mark.parametrize("weights", TRANSFORMERS_IDS)
def test_extracted_units_are_cls_of_hidden_states(weights):
    spec, model = _built(weights)
    x, samples = _images(), torch.tensor([5, 9])
    got = ActivationExtractor(model, spec)(x, samples)
    kwargs = {}
    if spec.mask_ratio:  # MAE: the same per-sample noise as the extractor
        kwargs["noise"] = mask_noise(spec.seed, samples, 196)
    with torch.no_grad():
        hidden = model(x, output_hidden_states=True, **kwargs).hidden_states
    assert len(got) == len(hidden) - 1 == 12
    for out, ref in zip(got.values(), hidden[1:], strict=True):
        assert out.shape == (2, 768)
        torch.testing.assert_close(out, ref[:, 0])


def _reference_kinds(model, spec, x, samples):
    """Each unit kind computed without the extractor: ``hidden_states`` and forward hooks on
    every block's MLP activation module (its output: the hidden units after it)."""
    kwargs = {}
    if spec.mask_ratio:  # MAE: the same per-sample noise as the extractor
        kwargs["noise"] = mask_noise(spec.seed, samples, 196)
    layers = ActivationExtractor(model, spec).layers
    acts: dict[str, torch.Tensor] = {}
    modules = dict(model.named_modules())
    handles = [
        modules[f"{layer}.mlp.activation_fn"].register_forward_hook(
            lambda m, i, out, layer=layer: acts.__setitem__(layer, out)
        )
        for layer in layers
    ]
    try:
        with torch.no_grad():
            hidden = model(x, output_hidden_states=True, **kwargs).hidden_states
    finally:
        for handle in handles:
            handle.remove()
    assert len(hidden) - 1 == len(layers) == 12
    return {
        "cls": {layer: h[:, 0] for layer, h in zip(layers, hidden[1:], strict=True)},
        "patch_mean": {
            layer: h[:, 1:].mean(1) for layer, h in zip(layers, hidden[1:], strict=True)
        },
        "mlp": {layer: acts[layer][:, 0] for layer in layers},
        "mlp_mean": {layer: acts[layer][:, 1:].mean(1) for layer in layers},
    }


def _assert_kinds_equal(got, expected):
    assert set(got) == set(expected)
    for kind, layers in expected.items():
        for layer, ref in layers.items():
            width = 3072 if kind.startswith("mlp") else 768
            assert got[kind][layer].shape == ref.shape == (2, width), (kind, layer)
            torch.testing.assert_close(got[kind][layer], ref, msg=f"{kind} {layer}")


@pytest.mark.slow  # real-size ViT-B, random init: about a minute together on 2 cores
@pytest.mark.parametrize("weights", TRANSFORMERS_IDS)
def test_unit_kinds_are_hidden_states_and_mlp_activations(weights, monkeypatch):
    """patch_mean: the mean of ``hidden_states[i + 1][:, 1:]`` (MAE: the kept patches, same
    noise); mlp / mlp_mean: the MLP activation's output at token 0 / over the patches. An
    extractor reading token 1 or the activation's input (fc1's output) must not match."""
    spec, model = _built(weights)
    spec = replace(spec, units=("cls", "patch_mean", "mlp", "mlp_mean"))
    x, samples = _images(), torch.tensor([5, 9])
    expected = _reference_kinds(model, spec, x, samples)
    _assert_kinds_equal(ActivationExtractor(model, spec).extract(x, samples), expected)

    real_pool = extraction.pool_output

    def token_one(output, units="cls", prefix=1):  # token 1 where token 0 is meant
        output = output[0] if isinstance(output, tuple | list) else output
        return real_pool(output[:, 1:] if units == "cls" else output, units, prefix)

    with monkeypatch.context() as patched:  # a swapped token index
        patched.setattr(extraction, "pool_output", token_one)
        wrong = ActivationExtractor(model, spec).extract(x, samples)
    with pytest.raises(AssertionError):
        _assert_kinds_equal({**expected, "mlp": wrong["mlp"]}, expected)
    with pytest.raises(AssertionError):
        _assert_kinds_equal({**expected, "cls": wrong["cls"]}, expected)
    with monkeypatch.context() as patched:  # before the activation: fc1's output
        patched.setattr(
            extraction, "mlp_projection", lambda s, m, layer: f"{layer}.mlp.activation_fn"
        )
        pre = ActivationExtractor(model, spec).extract(x, samples)
    with pytest.raises(AssertionError):
        _assert_kinds_equal({**expected, "mlp": pre["mlp"]}, expected)
    with pytest.raises(AssertionError):
        _assert_kinds_equal({**expected, "mlp_mean": pre["mlp_mean"]}, expected)
    with monkeypatch.context() as patched:  # the CLS token counted among the patches
        patched.setattr(extraction, "prefix_tokens", lambda m: 0)
        with_cls = ActivationExtractor(model, spec).extract(x, samples)
    with pytest.raises(AssertionError):
        _assert_kinds_equal({**expected, "patch_mean": with_cls["patch_mean"]}, expected)


@pytest.mark.slow  # real-size ViT-B, random init: about 30 s together on 2 cores
def test_mae_masks_75_percent_of_patches_seeded_per_sample():
    spec, model = _built("facebook/vit-mae-base")
    assert model.config.mask_ratio == 0.75
    tokens = []
    handle = model.vit.embeddings.register_forward_hook(
        lambda module, inputs, output: tokens.append(output[0].shape[1])
    )
    try:
        extractor = ActivationExtractor(model, spec)
        x = _images()
        both = extractor(x, torch.tensor([5, 9]))
        second = extractor(x[1:], torch.tensor([9]))
    finally:
        handle.remove()
    assert tokens[0] == 1 + 196 // 4  # CLS + the 49 kept patches of 196
    last = list(both)[-1]
    torch.testing.assert_close(both[last][1:], second[last])  # same image, same mask
    other = extractor(x[1:], torch.tensor([10]))[last]  # another probe index, another mask
    assert not torch.allclose(other, second[last], atol=1e-4)


@pytest.mark.slow  # real-size ViT-B, random init: about 30 s together on 2 cores
def test_dinov2_interpolates_its_37x37_table_at_run_time_without_antialias():
    _, model = _built("facebook/dinov2-base")
    embeddings = model.dinov2.embeddings
    table = embeddings.position_embeddings
    assert table.shape == (1, 37 * 37 + 1, 768)  # not resampled at load
    grid = table[:, 1:].reshape(1, 37, 37, 768).permute(0, 3, 1, 2)

    def resized(antialias: bool) -> torch.Tensor:
        patch = torch.nn.functional.interpolate(
            grid, size=(16, 16), mode="bicubic", align_corners=False, antialias=antialias
        )
        return torch.cat([table[:, :1], patch.permute(0, 2, 3, 1).reshape(1, 256, 768)], 1)

    x = _images()
    with torch.no_grad():
        hidden0 = model(x, output_hidden_states=True).hidden_states[0]
        patches = embeddings.patch_embeddings(x)
        tokens = torch.cat([embeddings.cls_token.expand(2, -1, -1), patches], dim=1)
    torch.testing.assert_close(hidden0, tokens + resized(antialias=False))
    assert not torch.allclose(hidden0, tokens + resized(antialias=True), atol=1e-4)


@pytest.mark.parametrize(
    ("timm_name", "kwargs", "weights", "needle"),
    [
        (
            "vit_base_patch16_clip_224.openai",
            {},
            "openai/clip-vit-base-patch16",
            "hidden_act is gelu, expected quick_gelu",
        ),
        (
            "vit_base_patch14_dinov2.lvd142m",
            {"img_size": 224},
            "facebook/dinov2-base",
            "position_rows is 257, expected 1370",
        ),
        (
            "vit_base_patch16_224.mae",
            {},
            "facebook/vit-mae-base",
            r"layer_norm_eps is \[1e-06\], expected \[1e-12\]",
        ),
        (
            "vit_base_patch16_224.orig_in21k",
            {},
            "google/vit-base-patch16-224-in21k",
            r"layer_norm_eps is \[1e-06\], expected \[1e-12\]",
        ),
    ],
)
def test_timm_look_alikes_fail_the_identity_check(timm_name, kwargs, weights, needle):
    spec = resolve_model_spec(
        "m", {"source": "timm", "weights": timm_name, "arch": "vit", "model_kwargs": kwargs}
    )
    with torch.device("meta"):  # the architecture only; no weights needed
        model = load_model(replace(spec, pretrained=False))
    with pytest.raises(ConfigError, match=needle) as info:
        check_identity(spec, model, weights)
    assert f"weights: {weights}" in str(info.value)  # the fix names the right checkpoint


def test_timm_clip_with_quickgelu_passes():
    """The check reads the function computed, not a class name: timm's QuickGELU variant is it."""
    with torch.device("meta"):
        model = load_model(
            resolve_model_spec(
                "m",
                {
                    "source": "timm",
                    "weights": "vit_base_patch16_clip_quickgelu_224",
                    "arch": "vit",
                    "pretrained": False,
                },
            )
        )
    assert identity_mismatches(model, PAPER_ARCHITECTURES["openai/clip-vit-base-patch16"]) == []


def test_resnet_is_the_torchvision_resnet50():
    with torch.device("meta"):
        resnet50 = load_model(_paper_spec("resnet50.tv_in1k"))
        resnet18 = load_model(replace(_paper_spec("resnet50.tv_in1k"), weights="resnet18"))
    spec = _paper_spec("resnet50.tv_in1k")
    assert check_identity(spec, resnet50).stage_widths == (64, 256, 512, 1024, 2048)
    with pytest.raises(ConfigError, match="stage_widths is"):
        check_identity(spec, resnet18, "resnet50.tv_in1k")


def test_dump_time_check_raises_on_a_wrong_build_and_warns_on_mask_ratio():
    clip = PAPER_ARCHITECTURES["openai/clip-vit-base-patch16"].hf_config
    gelu_clip = {**clip, "vision_config": {**clip["vision_config"], "hidden_act": "gelu"}}
    spec = _paper_spec("openai/clip-vit-base-patch16", hf_config=gelu_clip)
    with torch.device("meta"):
        wrong = load_model(spec)
    with pytest.raises(ConfigError, match=r"models\.paper: .*hidden_act is gelu"):
        check_paper_model(spec, wrong)

    unmasked = _paper_spec("facebook/vit-mae-base", mask_ratio=0.0)
    with torch.device("meta"):
        mae = load_model(unmasked)
    (warning,) = check_paper_model(unmasked, mae)
    assert "mask_ratio is 0.0, expected 0.75" in warning
    # a user's own network is not checked
    own = replace(unmasked, weights="me/my-mae")
    assert check_paper_model(own, mae) == []


def test_fidelity_doc_names_real_tests_and_the_documented_facts():
    """docs/fidelity.md cites test functions that exist, and the facts the library checks."""
    import re

    doc = (ROOT / "docs" / "fidelity.md").read_text()
    defined = set()
    for path in (ROOT / "tests").glob("test_*.py"):
        defined |= set(re.findall(r"^def (test_\w+)", path.read_text(), flags=re.M))
    cited, files = set(), set()
    for span in re.findall(r"`([^`]*test_[^`]*)`", doc):  # `test_x`, `test_f.py::test_x`
        for part in re.findall(r"test_\w+(?:\.py)?", span):
            (files if part.endswith(".py") else cited).add(part)
    assert len(cited) > 20
    assert all((ROOT / "tests" / name).is_file() for name in files), files
    assert cited <= defined, sorted(cited - defined)
    for weights, arch in PAPER_ARCHITECTURES.items():
        assert weights in doc
        if arch.source == "transformers":
            assert arch.config_url in doc
            assert arch.modeling_file.rsplit("/", 1)[-1] in doc
