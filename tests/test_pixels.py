"""Decode once: the pixel cache gives bit-identical inputs and activations (vitconcepts.pixels)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import xarray as xr
from test_models import TIMM_CNN, TIMM_VIT

from vitconcepts.activations import dump_activations
from vitconcepts.errors import ConfigError, InputDataError
from vitconcepts.formats import read_layer
from vitconcepts.models import build_transform, load_model, resolve_model_spec
from vitconcepts.pixels import (
    PixelBatches,
    Recipe,
    build_pixel_cache,
    check_pixel_cache,
    paper_recipe,
    recipe_from_transform,
)
from vitconcepts.probe import ProbeDataset, build_probe_index


def test_recipe_of_paper_transform_and_key():
    spec = resolve_model_spec("m", TIMM_VIT)
    recipe = recipe_from_transform(build_transform(spec, load_model(spec)))
    assert recipe == paper_recipe(32) == Recipe(resize=37, crop=32)
    assert recipe.key.startswith("r37c32bilinear-")
    assert paper_recipe(224).key != recipe.key
    assert Recipe(256, 224, interpolation="bicubic").key != paper_recipe(224).key
    assert Recipe.from_dict(json.loads(json.dumps(recipe.to_dict()))) == recipe
    assert recipe_from_transform(lambda image: image) is None


def test_cached_pixels_normalise_to_the_jpeg_path_bit_for_bit(tmp_path, probe_csv):
    spec = resolve_model_spec("m", TIMM_VIT)
    transform = build_transform(spec, load_model(spec))
    recipe = recipe_from_transform(transform)
    path = build_pixel_cache(probe_csv, recipe, tmp_path / "pixels.nc", shard_size=5)
    assert check_pixel_cache(path, recipe, probe_csv) == 12
    with xr.open_dataset(path) as ds:
        assert ds["pixels"].dtype == np.uint8 and ds["pixels"].shape == (12, 3, 32, 32)
        assert json.loads(ds.attrs["provenance"])["recipe_key"] == recipe.key
    batches = PixelBatches(path, range(2, 12), batch_size=4)
    assert len(batches) == 3
    pixels, samples = batches[2]
    assert samples.tolist() == [10, 11]
    got = recipe.normaliser("cpu")(torch.cat([batches[i][0] for i in range(3)]))
    dataset = ProbeDataset(probe_csv, transform)
    expected = torch.stack([dataset[i][0] for i in range(2, 12)])
    assert torch.equal(got, expected)


def test_cache_of_another_recipe_or_probe_is_refused(tmp_path, probe_csv, image_folder):
    recipe = paper_recipe(32)
    path = build_pixel_cache(probe_csv, recipe, tmp_path / "pixels.nc")
    with pytest.raises(ConfigError, match="holds recipe"):
        check_pixel_cache(path, paper_recipe(64), probe_csv)
    other = tmp_path / "other"
    (image_folder / "cat" / "img_000.png").unlink()
    build_probe_index(
        "x",
        [{"kind": "image_folder", "path": str(image_folder)}],
        other / "index.csv",
        other / "index.json",
        other,
    )
    with pytest.raises(InputDataError, match="another version of the probe"):
        check_pixel_cache(path, recipe, other / "index.csv")


@pytest.mark.parametrize("entry", [TIMM_VIT, TIMM_CNN], ids=["vit", "cnn"])
def test_dump_with_and_without_cache_is_identical(tmp_path, probe_csv, entry):
    spec = resolve_model_spec("m", entry)
    recipe = recipe_from_transform(build_transform(spec, load_model(spec)))
    pixels = build_pixel_cache(probe_csv, recipe, tmp_path / "pixels.nc", shard_size=4)
    options = {"dtype": "float32", "batch_size": 5, "shard_size": 4, "device": "cpu"}
    jpeg = dump_activations(spec, probe_csv, None, tmp_path / "a.nc", **options)
    cached = dump_activations(spec, probe_csv, None, tmp_path / "b.nc", pixels=pixels, **options)
    with xr.open_dataset(jpeg) as a, xr.open_dataset(cached) as b:
        assert a.sizes == b.sizes
        for i in range(a.sizes["layer"]):
            np.testing.assert_array_equal(read_layer(a, i), read_layer(b, i))


def test_autocast_option_is_checked_and_recorded(tmp_path, probe_csv):
    spec = resolve_model_spec("m", TIMM_VIT)
    options = {"dtype": "float32", "batch_size": 6, "device": "cpu"}
    with pytest.raises(ConfigError, match="dump.autocast"):
        dump_activations(spec, probe_csv, None, tmp_path / "x.nc", autocast="int8", **options)
    full = dump_activations(spec, probe_csv, None, tmp_path / "f.nc", **options)
    half = dump_activations(spec, probe_csv, None, tmp_path / "h.nc", autocast="bf16", **options)
    with xr.open_dataset(full) as a, xr.open_dataset(half) as b:
        assert json.loads(b.attrs["provenance"])["autocast"] == "bf16"
        x, y = read_layer(a, -1), read_layer(b, -1)
        assert not np.array_equal(x, y)  # bf16 really ran
        assert np.corrcoef(x.ravel(), y.ravel())[0, 1] > 0.95


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_dump_with_and_without_cache_is_identical(tmp_path, probe_csv):
    spec = resolve_model_spec("m", TIMM_CNN)
    recipe = recipe_from_transform(build_transform(spec, load_model(spec)))
    pixels = build_pixel_cache(probe_csv, recipe, tmp_path / "pixels.nc")
    options = {"dtype": "float32", "batch_size": 5, "shard_size": 4, "device": "cuda"}
    jpeg = dump_activations(spec, probe_csv, None, tmp_path / "a.nc", **options)
    cached = dump_activations(spec, probe_csv, None, tmp_path / "b.nc", pixels=pixels, **options)
    with xr.open_dataset(jpeg) as a, xr.open_dataset(cached) as b:
        for i in range(a.sizes["layer"]):
            np.testing.assert_array_equal(read_layer(a, i), read_layer(b, i))


def test_embed_images_with_and_without_cache_is_identical(tmp_path, probe_csv):
    from test_clip import ENTRY as entry

    from vitconcepts.clip import clip_recipe, download_clip, embed_images, load_clip

    manifest = download_clip("tiny", entry, tmp_path / "clip")
    recipe = clip_recipe(entry)
    assert recipe == recipe_from_transform(load_clip(entry, manifest)[1])
    assert recipe.interpolation == "bicubic" and recipe.key != paper_recipe(32).key
    pixels = build_pixel_cache(probe_csv, recipe, tmp_path / "pixels.nc")
    a = embed_images(entry, manifest, probe_csv, tmp_path / "a.nc", batch_size=5, device="cpu")
    b = embed_images(
        entry, manifest, probe_csv, tmp_path / "b.nc", batch_size=5, device="cpu", pixels=pixels
    )
    with xr.open_dataset(a) as x, xr.open_dataset(b) as y:
        np.testing.assert_array_equal(x["embedding"].values, y["embedding"].values)
    with pytest.raises(ConfigError, match="holds recipe"):
        embed_images(
            entry,
            manifest,
            probe_csv,
            tmp_path / "c.nc",
            device="cpu",
            pixels=build_pixel_cache(probe_csv, paper_recipe(32), tmp_path / "p2.nc"),
        )


@pytest.mark.slow
def test_tiny_workflow_dumps_identical_activations_with_and_without_cache(tmp_path):
    from workflow_copy import TINY_CONFIG, copy_workflow, run_snakemake

    targets = ["results/activations/test/tiny_vit.nc", "results/activations/test/tiny_cnn.nc"]
    runs = {}
    for mode in ("false", "true"):
        work = copy_workflow(tmp_path / mode)
        args = ["--configfile", TINY_CONFIG, "--config", f"pixel_cache={mode}", "--cores", "2"]
        out = run_snakemake(work, *args, *targets, log_name="run.out", timeout=900)
        caches = sorted((work / "resources/probes/test").glob("pixels_*.nc"))
        assert len(caches) == (1 if mode == "true" else 0), out.stdout + out.stderr
        runs[mode] = work
    bench = runs["true"] / "results/benchmarks/cache_pixels/test"
    assert len(list(bench.glob("*.tsv"))) == 1
    for target in targets:
        with (
            xr.open_dataset(runs["false"] / target) as a,
            xr.open_dataset(runs["true"] / target) as b,
        ):
            assert a.sizes == b.sizes
            for i in range(a.sizes["layer"]):
                np.testing.assert_array_equal(read_layer(a, i), read_layer(b, i))
            assert json.loads(b.attrs["provenance"])["pixel_cache"].endswith(caches[0].name)


def test_uncompressed_activation_files_hold_the_same_values(tmp_path, probe_csv):
    spec = resolve_model_spec("m", TIMM_VIT)
    options = {"dtype": "float16", "batch_size": 6, "device": "cpu"}
    a = dump_activations(spec, probe_csv, None, tmp_path / "z.nc", **options)
    b = dump_activations(spec, probe_csv, None, tmp_path / "u.nc", complevel=0, **options)
    with xr.open_dataset(a) as x, xr.open_dataset(b) as y:
        assert y["activations"].encoding.get("zlib") is False
        assert x["activations"].encoding.get("zlib") is True
        for i in range(x.sizes["layer"]):
            np.testing.assert_array_equal(read_layer(x, i), read_layer(y, i))
