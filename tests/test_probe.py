"""Tests for the probe index: ImageFolder order, parts, hashing, corrupt files, downloads."""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import write_images
from PIL import Image
from torchvision.datasets import ImageFolder

from vitconcepts.errors import ConfigError, InputDataError
from vitconcepts.formats import read_probe_index
from vitconcepts.probe import (
    IMG_EXTENSIONS,
    ProbeDataset,
    build_probe_index,
    image_folder_files,
)


def _build(tmp_path, parts, name="p"):
    out = tmp_path / "out"
    index = build_probe_index(name, parts, out / "index.csv", out / "index.json", out)
    return index, json.loads((out / "index.json").read_text()), out / "index.csv"


def test_image_folder_order_matches_torchvision(tmp_path):
    root = tmp_path / "tree"
    write_images(root, {"b_class": 3, "a_class": 2, "Z": 1})
    write_images(root / "a_class" / "nested" / "deeper", {"x": 2}, seed=1)
    write_images(root / "b_class", {"sub": 2}, ext=".JPEG", seed=2)
    (root / "a_class" / "notes.txt").write_text("not an image")
    (root / "top_level.png").write_bytes((root / "Z" / "img_000.png").read_bytes())
    other = tmp_path / "elsewhere"
    write_images(other, {"linked": 2}, seed=3)
    os.symlink(other / "linked", root / "Z" / "link")  # followed, like ImageFolder
    expected = [path for path, _ in ImageFolder(str(root)).samples]
    assert image_folder_files(root) == expected
    assert len(expected) == 3 + 2 + 1 + 2 + 2 + 2


def test_build_index_concat_order_hash_and_dataset(tmp_path, image_folder):
    flat = tmp_path / "flat"
    flat.mkdir()
    for i, name in enumerate(["b.png", "a.jpg", "c.webp"]):
        Image.new("RGB", (20, 20), (i * 60, 0, 0)).save(flat / name)
    parts = [
        {"kind": "imagenet_val", "path": str(image_folder)},
        {"kind": "image_folder", "path": str(flat)},
    ]
    index, meta, csv = _build(tmp_path, parts)
    expected = [p for p, _ in ImageFolder(str(image_folder)).samples]
    expected += [str(flat / n) for n in ["a.jpg", "b.png", "c.webp"]]
    assert index["path"].tolist() == [os.path.abspath(p) for p in expected]
    assert index["sample"].tolist() == list(range(15))
    assert index["sample_id"][0] == "imagenet_val/cat/img_000.png"
    assert index["sample_id"].iloc[-1] == "image_folder/c.webp"
    assert index["part"].tolist() == ["imagenet_val"] * 12 + ["image_folder"] * 3
    assert meta["probe"] == "p" and meta["n_samples"] == 15 and len(meta["sha256"]) == 64
    assert "provenance" in meta
    assert read_probe_index(csv).equals(index)

    dataset = ProbeDataset(csv, transform=lambda im: torch.tensor(np.asarray(im)))
    tensor, sample = dataset[13]
    assert sample == 13 and tuple(tensor.shape) == (20, 20, 3) and int(tensor[0, 0, 0]) == 0

    # the hash covers file contents: change one pixel, the hash changes
    Image.new("RGB", (20, 20), (1, 0, 0)).save(flat / "a.jpg")
    _, meta2, _ = _build(tmp_path, parts)
    assert meta2["sha256"] != meta["sha256"]


@pytest.mark.parametrize("path", ["", "/does/not/exist"])
def test_a_folder_gone_after_the_workflow_checked_it_names_its_key(tmp_path, path):
    """The workflow checks the folders, with a fix, before any job (test_input_faults); the
    index only names the key of a folder that vanished since."""
    with pytest.raises(InputDataError, match=r"`imagenet_val` is '.*', which is not a folder"):
        _build(tmp_path, [{"kind": "imagenet_val", "path": path}])


def test_unknown_part_kind(tmp_path):
    with pytest.raises(ConfigError, match=r"probes\.p\.parts\[0\]\.kind"):
        _build(tmp_path, [{"kind": "coco"}])


def test_corrupt_images_are_listed(tmp_path, image_folder):
    bad = [image_folder / "dog" / f"broken_{i:02d}.png" for i in range(22)]
    for path in bad:
        path.write_bytes(b"\x00garbage, not a png" * 10)
    with pytest.raises(InputDataError) as info:
        _build(tmp_path, [{"kind": "image_folder", "path": str(image_folder)}])
    message = str(info.value)
    assert "22 of 34 image file(s) cannot be decoded" in message and "and 2 more" in message
    assert str(bad[0]) in message and str(bad[19]) in message and str(bad[21]) not in message
    listing = tmp_path / "out" / "bad_images.tsv"
    assert f"listed (path, reason) in {listing}" in message
    assert [line.split("\t")[0] for line in listing.read_text().splitlines()] == list(map(str, bad))


def test_dataset_decode_error_names_path(tmp_path, image_folder):
    _, _, csv = _build(tmp_path, [{"kind": "image_folder", "path": str(image_folder)}])
    victim = image_folder / "cat" / "img_001.png"
    victim.write_bytes(b"broken after indexing")
    with pytest.raises(InputDataError, match=str(victim)):
        ProbeDataset(csv)[1]


def _broden_zip(tmp_path):
    root = tmp_path / "src" / "broden1_224"
    write_images(root / "images", {"ade20k": 2, "dtd": 2}, ext=".jpg")
    write_images(root / "images", {"ade20k": 2}, ext=".png", seed=5)  # masks
    (root / "index.csv").write_text("image,split\n")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(root.rglob("*")):
            archive.write(path, path.relative_to(tmp_path / "src").as_posix())
    return root, buffer.getvalue()


def test_broden_download_masks_and_order(tmp_path, http_server):
    root, data = _broden_zip(tmp_path)
    http_server.routes["/data/broden1_224.zip"] = (200, {}, data)
    part = {
        "kind": "broden",
        "url": f"{http_server.url}/data/broden1_224.zip",
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    index, _, _ = _build(tmp_path, [{**part, "include_masks": True}])
    expected = [os.path.relpath(p, root) for p, _ in ImageFolder(str(root)).samples]
    assert len(expected) == 6
    assert index["sample_id"].tolist() == [f"broden/{p}" for p in expected]
    assert (tmp_path / "out" / "broden1_224.zip").exists()

    index, _, _ = _build(tmp_path, [part])  # default: photos only, as the published labels
    assert len(index) == 4 and all(p.endswith(".jpg") for p in index["path"])
    assert len(http_server.requests) == 1  # zip reused, not fetched again

    with pytest.raises(InputDataError, match="Checksum mismatch"):
        _build(tmp_path / "other", [{**part, "sha256": "0" * 64}])


def test_cifar100_test_from_tarball(tmp_path, http_server):
    rng = np.random.default_rng(0)
    data = rng.integers(0, 256, size=(5, 3072), dtype=np.uint8)
    batch = pickle.dumps({"data": data, "fine_labels": [3, 1, 4, 1, 5]})
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("cifar-100-python/test")
        info.size = len(batch)
        tar.addfile(info, io.BytesIO(batch))
    http_server.routes["/cifar-100-python.tar.gz"] = (200, {}, buffer.getvalue())
    part = {"kind": "cifar100_test", "url": f"{http_server.url}/cifar-100-python.tar.gz"}
    index, _, _ = _build(tmp_path, [part])
    assert index["sample_id"].tolist() == [f"cifar100_test/{i:05d}.png" for i in range(5)]
    pixels = np.asarray(Image.open(index["path"][3]))
    np.testing.assert_array_equal(pixels, data[3].reshape(3, 32, 32).transpose(1, 2, 0))


# -- the workflow's stdlib plan agrees with the library --------------------------------------
def _plan_inputs():
    import sys

    rules = str(Path(__file__).resolve().parents[1] / "rules")
    if rules not in sys.path:
        sys.path.insert(0, rules)
    import plan_inputs

    return plan_inputs


def test_workflow_fingerprint_covers_the_files_the_index_reads(tmp_path):
    """The fingerprint of an image folder (rules/plan_inputs.py) stats the files the index
    lists (in its own sorted order), so adding or removing an indexed image re-indexes."""
    plan = _plan_inputs()
    root = tmp_path / "tree"
    write_images(root, {"b_class": 3, "a_class": 2})
    write_images(root / "a_class" / "nested", {"x": 2}, seed=1)
    write_images(root / "b_class", {"sub": 2}, ext=".JPEG", seed=2)
    write_images(tmp_path, {"tree": 1}, seed=3)  # a top-level image ImageFolder skips
    (root / "a_class" / "notes.txt").write_text("not an image")
    assert plan.IMG_EXTENSIONS == IMG_EXTENSIONS
    indexed = image_folder_files(root)
    assert indexed == [p for p, _ in ImageFolder(str(root)).samples]
    assert sorted(plan.image_files(root)) == sorted(indexed)
    flat = tmp_path / "flat"
    write_images(tmp_path, {"flat": 3})
    assert plan.image_files(flat) == image_folder_files(flat)


def test_workflow_recipe_keys_name_the_library_cache_files():
    from vitconcepts.pixels import FORMAT_VERSION, Recipe, paper_recipe

    plan = _plan_inputs()
    assert plan.PIXEL_FORMAT_VERSION == FORMAT_VERSION
    for size in (224, 384, 32):
        recipe = plan.paper_recipe(size)
        assert recipe == paper_recipe(size).to_dict()
        assert plan.recipe_key(recipe) == Recipe.from_dict(recipe).key == paper_recipe(size).key


def test_pixel_cache_plan_from_the_config_alone():
    plan = _plan_inputs()
    entries = {
        "a": {"preprocessing": "paper"},
        "b": {},
        "c": {"preprocessing": "native"},  # its recipe is known to the library only
        "d": {"input_size": 384},
    }
    assert plan.pixel_cache_plan(False, entries) == {}
    assert plan.pixel_cache_plan("false", entries) == {}
    assert set(plan.pixel_cache_plan(True, entries)) == {"a", "b", "d"}
    assert set(plan.pixel_cache_plan("auto", entries)) == {"a", "b"}
    assert plan.pixel_cache_plan("auto", {"a": {}, "c": {"preprocessing": "native"}}) == {}
    with pytest.raises(plan.ConfigError, match="pixel_cache"):
        plan.pixel_cache_plan("yes", entries)
