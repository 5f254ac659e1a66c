"""Device handling: labeling memory plan, CUDA paths (skipped without a GPU), CPU fallback."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from vitconcepts.device import resolve_device
from vitconcepts.labeling import EmbeddingSimilarity, log_memory_plan, memory_plan, soft_wpmi

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


def test_memory_plan_at_paper_size_fits_its_budget(capsys):
    plan = memory_plan(torch.device("cpu"), 113_305, 20_000, 768, 512)
    assert plan["embeddings"] == 4 * (113_305 + 20_000) * 512
    assert plan["scores"] == 4 * 768 * 20_000
    assert plan["softmax_chunk"] + plan["tiles"] <= plan["budget"]
    assert 1 <= plan["unit_block"] <= 768 and 1 <= plan["concept_chunk"] <= 20_000
    log_memory_plan(torch.device("cpu"), 1000, 200, 64, 16)
    assert "memory bound" in capsys.readouterr().out


def test_auto_device_falls_back_to_cpu_without_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")


@pytest.mark.parametrize("device", ["auto", "", None])
def test_auto_empty_and_none_all_mean_cuda_when_available(monkeypatch, device):
    """One rule for every step: an empty ``device:`` is ``auto``, not an error."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device(device) == torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device(device) == torch.device("cpu")


def test_named_devices_are_taken_as_given(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("cuda:1") == torch.device("cuda", 1)
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")


def test_every_step_resolves_devices_through_the_one_function():
    from vitconcepts import activations, clip, device, labeling

    assert labeling.resolve_device is device.resolve_device
    assert activations.resolve_device is device.resolve_device
    assert clip.resolve_device is device.resolve_device


def _random(n: int, c: int, u: int, device: str):
    gen = torch.Generator().manual_seed(0)
    image = torch.nn.functional.normalize(torch.randn(n, 32, generator=gen), dim=1)
    concept = torch.nn.functional.normalize(torch.randn(c, 32, generator=gen), dim=1)
    acts = torch.randn(n, u, generator=gen)
    return image.to(device), concept.to(device), acts.to(device)


def test_lazy_similarity_matches_dense_on_cpu():
    image, concept, acts = _random(500, 300, 40, "cpu")
    lazy = soft_wpmi(EmbeddingSimilarity(image, concept), acts, top_k=20, device="cpu")
    dense = soft_wpmi(image @ concept.T, acts, top_k=20, device="cpu")
    torch.testing.assert_close(lazy, dense, rtol=1e-4, atol=1e-4)


@CUDA
def test_cuda_labeling_with_device_embeddings_matches_cpu():
    image, concept, acts = _random(3000, 2000, 96, "cpu")
    cpu = soft_wpmi(EmbeddingSimilarity(image, concept), acts, top_k=50, device="cpu")
    sim = EmbeddingSimilarity(image.cuda(), concept.cuda())
    gpu = soft_wpmi(sim, acts.cuda(), top_k=50, device="cuda")
    assert gpu.device.type == "cuda"
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-3, atol=1e-3)
    assert (gpu.argmax(1).cpu() == cpu.argmax(1)).float().mean() > 0.95


@CUDA
def test_cuda_memory_plan_uses_free_device_memory():
    plan = memory_plan(torch.device("cuda"), 113_305, 20_000, 768, 512)
    free, _ = torch.cuda.mem_get_info()
    assert plan["budget"] <= free and plan["total"] <= free


@pytest.mark.slow
def test_paper_scale_benchmark_runs_on_cpu_at_tiny_size(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import json

    import bench_paper_scale

    out = tmp_path / "r.json"
    args = ["--direct", "--n", "6", "--workdir", str(tmp_path / "w"), "--workers", "0"]
    args += ["--gen-workers", "1", "--batch-size", "3", "--label-n", "200", "--concepts", "50"]
    assert bench_paper_scale.main([*args, "--bf16-n", "6", "--json", str(out)]) == 0
    results = json.loads(out.read_text())
    assert results["device"].startswith("CPU")
    assert results["max_abs_diff"] == {"resnet50": 0.0, "vit_b16": 0.0}
    proj = results["projection"]
    assert proj["total_with_pixel_cache_s"] > 0 and proj["speedup_per_pass"]["vit_b16"] > 0
    assert 0 <= results["bf16"]["top1_concept_unchanged"] <= 1


@CUDA
def test_cuda_normalisation_equals_totensor_normalize_bit_for_bit():
    from torchvision import transforms

    from vitconcepts.pixels import paper_recipe

    u8 = torch.arange(256, dtype=torch.uint8).repeat(3 * 16 * 16 // 256 * 4)[: 3 * 32 * 32]
    u8 = u8.view(1, 3, 32, 32)
    recipe = paper_recipe(32)
    reference = transforms.Normalize(recipe.mean, recipe.std)(u8[0].float().div(255))
    got = recipe.normaliser("cuda")(u8.cuda())[0].cpu()
    assert torch.equal(got, reference)
