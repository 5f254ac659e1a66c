"""Device handling: labeling memory plan, CUDA paths (skipped without a GPU), CPU fallback."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from vitconcepts.device import resolve_device
from vitconcepts.labeling import (
    EmbeddingSimilarity,
    log_memory_plan,
    memory_plan,
    soft_wpmi,
    top_image_indices,
)

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


def test_memory_plan_at_paper_size_fits_its_budget(capsys):
    plan = memory_plan(torch.device("cpu"), 113_305, 20_000, 768, 512)
    assert plan["embeddings"] == 4 * (113_305 + 20_000) * 512
    assert plan["scores"] == 4 * 768 * 20_000
    assert plan["softmax_chunk"] + plan["tiles"] <= plan["budget"]
    assert 1 <= plan["unit_block"] <= 768 and 1 <= plan["concept_chunk"] <= 20_000
    log_memory_plan(torch.device("cpu"), 1000, 200, 64, 16)
    assert "memory bound" in capsys.readouterr().out


VIT_B_MLP = {"n_images": 113_305, "n_concepts": 20_000, "n_units": 3_072, "dim": 512}


@pytest.mark.parametrize("free_gb", [4, 8, 24, 80, 141])
def test_memory_plan_of_a_vit_b_mlp_layer_at_paper_size_fits_a_gpu(monkeypatch, free_gb, capsys):
    """3,072 MLP units a layer over the paper's probe and 20k concepts: the printed bound is
    within the budget of a 4 GB GPU and up, and the layer itself stays on the host (the
    top-k search moves one block at a time). Nothing is allocated: the free memory is set."""
    free = free_gb * 10**9
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (free, free))
    cuda = torch.device("cuda")
    plan = log_memory_plan(cuda, **VIT_B_MLP)
    assert plan["budget"] == free // 2 and plan["fits"] == 1.0
    assert plan["total"] <= plan["budget"], plan
    assert plan["activations"] <= 64 << 20  # one top-k block, not the 1.39 GB layer
    assert plan["scores"] == 4 * 3_072 * 20_000
    assert plan["top_k_indices"] == 8 * 3 * 3_072 * 100
    # the softmax chunk holds every unique top-k row (all 113,305 images) x the chunk
    assert plan["softmax_chunk"] == 4 * 113_305 * (plan["concept_chunk"] + 512)
    assert 1 <= plan["unit_block"] <= 3_072 and 1 <= plan["concept_chunk"] <= 8_192
    out = capsys.readouterr().out
    assert "113305 images x 20000 concepts x 3072 units" in out and "WARNING" not in out


def test_memory_plan_warns_when_its_bound_exceeds_the_budget(monkeypatch, capsys):
    """A dense method at paper size needs the 9 GB similarity matrix (and a copy): on a
    16 GB GPU that exceeds half the free memory, and the log says so with a fix."""
    free = 16 * 10**9
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (free, free))
    plan = log_memory_plan(torch.device("cuda"), **VIT_B_MLP, dense=True)
    assert plan["similarity"] == 2 * 4 * 113_305 * 20_000 and plan["fits"] == 0.0
    out = capsys.readouterr().out
    assert "WARNING: the bound exceeds the budget" in out and "soft_wpmi" in out


def test_cpu_memory_plan_counts_the_layer_read_into_host_memory(monkeypatch):
    monkeypatch.setattr("vitconcepts.labeling._tiling.free_memory_bytes", lambda device: 12 * 10**9)
    plan = memory_plan(torch.device("cpu"), **VIT_B_MLP)
    assert plan["activations"] == 4 * 113_305 * 3_072 and plan["total"] <= plan["budget"]


def test_top_image_indices_in_blocks_on_a_device_equal_one_topk(monkeypatch):
    monkeypatch.setattr("vitconcepts.labeling._similarity.TOPK_BLOCK_BYTES", 300 * 4 * 8)
    acts = torch.randn(300, 50, generator=torch.Generator().manual_seed(0))
    expect = torch.topk(acts, k=7, dim=0).indices.T
    torch.testing.assert_close(top_image_indices(acts, 7, "cpu"), expect)


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
