"""CLIP embeddings with a tiny randomly initialised open_clip model (no weights offline)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr
from PIL import Image

from vitconcepts import clip as vclip
from vitconcepts.clip import download_clip, embed_concepts, embed_images, load_clip
from vitconcepts.errors import InputDataError
from vitconcepts.ncstream import ShardedNetCDFWriter

TINY = {
    "embed_dim": 16,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 8, "head_width": 16},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}
ENTRY = {"arch": TINY, "pretrained": False, "seed": 0}


@pytest.fixture
def probe_index(tmp_path, image_folder):
    paths = sorted(image_folder.rglob("*.png"))
    index = pd.DataFrame(
        {
            "sample": range(len(paths)),
            "sample_id": [f"test/{p.parent.name}/{p.name}" for p in paths],
            "path": [str(p) for p in paths],
            "part": "test",
        }
    )
    csv = tmp_path / "index.csv"
    index.to_csv(csv, index=False)
    return csv


@pytest.fixture
def manifest(tmp_path):
    return download_clip("tiny", ENTRY, tmp_path / "resources" / "clip" / "tiny")


def test_random_manifest_and_seeded_init(manifest):
    record = json.loads(manifest.read_text())
    assert record["files"] == {} and record["pretrained"] is None
    a, _, _ = load_clip(ENTRY, manifest)
    b, _, _ = load_clip(ENTRY, manifest)
    c, _, _ = load_clip(dict(ENTRY, seed=1), manifest)
    wa, wb, wc = (m.visual.conv1.weight for m in (a, b, c))
    assert torch.equal(wa, wb) and not torch.equal(wa, wc)


def test_embed_images(probe_index, manifest, tmp_path):
    out = tmp_path / "results" / "clip" / "test" / "tiny.nc"
    embed_images(ENTRY, manifest, probe_index, out, batch_size=5, device="cpu")
    index = pd.read_csv(probe_index)
    with xr.open_dataset(out) as ds:
        emb = ds["embedding"]
        assert emb.dims == ("sample", "dim") and emb.shape == (12, 16)
        assert emb.dtype == np.float32
        assert ds["sample_id"].values.tolist() == index["sample_id"].tolist()
        assert ds["sample"].values.tolist() == list(range(12))
        assert int(ds.attrs["normalised"]) == 1
        assert json.loads(ds.attrs["provenance"])["clip"]["seed"] == 0
        values = emb.values
    np.testing.assert_allclose(np.linalg.norm(values, axis=1), 1.0, rtol=1e-5)
    # the same as running CLIP's own preprocessing and image encoder by hand
    model, preprocess, _ = load_clip(ENTRY, manifest)
    with torch.no_grad():
        batch = torch.stack([preprocess(Image.open(p).convert("RGB")) for p in index["path"]])
        direct = torch.nn.functional.normalize(model.encode_image(batch), dim=-1).numpy()
    np.testing.assert_allclose(values, direct, atol=1e-5)
    assert len({tuple(np.round(v, 4)) for v in values}) == 12  # images differ


def test_embed_images_resumes(probe_index, manifest, tmp_path, monkeypatch):
    reference = tmp_path / "ref.nc"
    embed_images(ENTRY, manifest, probe_index, reference, batch_size=4, device="cpu")
    index = pd.read_csv(probe_index)
    broken = index["path"].iloc[6]
    import vitconcepts.probe._index as probe  # ProbeDataset reads images through it

    real = probe.load_rgb

    def failing(path, *args):
        if path == broken:
            raise InputDataError(f"Cannot read probe image {path}.")
        return real(path)

    monkeypatch.setattr(probe, "load_rgb", failing)
    out = tmp_path / "out.nc"
    with pytest.raises(InputDataError):
        embed_images(ENTRY, manifest, probe_index, out, batch_size=4, device="cpu")
    partial = tmp_path / "out.nc.partial"
    assert ShardedNetCDFWriter.read_completed(partial) == 4
    monkeypatch.setattr(probe, "load_rgb", real)
    seen: list[int] = []
    encode = vclip.load_clip

    def spying_load(*args, **kwargs):
        model, preprocess, tok = encode(*args, **kwargs)
        inner = model.encode_image
        model.encode_image = lambda x, **kw: seen.append(len(x)) or inner(x, **kw)
        return model, preprocess, tok

    monkeypatch.setattr(vclip, "load_clip", spying_load)
    embed_images(ENTRY, manifest, probe_index, out, batch_size=4, device="cpu")
    assert seen == [4, 4]  # only samples 4..11 were embedded again
    with xr.open_dataset(out) as a, xr.open_dataset(reference) as b:
        np.testing.assert_allclose(a["embedding"].values, b["embedding"].values, atol=1e-6)
    assert not partial.exists()


def test_embed_concepts(tmp_path, manifest):
    concepts = tmp_path / "concepts.txt"
    words = ["red", "striped", "dog", "snorkeling", "a very long concept phrase indeed here"]
    concepts.write_text("\n".join(words) + "\n")
    out = tmp_path / "concepts.nc"
    embed_concepts(ENTRY, manifest, concepts, out, batch_size=2, device="cpu")
    with xr.open_dataset(out) as ds:
        assert ds["embedding"].dims == ("concept", "dim")
        assert ds["concept"].values.tolist() == words
        values = ds["embedding"].values
        assert "provenance" in ds.attrs
    np.testing.assert_allclose(np.linalg.norm(values, axis=1), 1.0, rtol=1e-5)
    model, _, tokenizer = load_clip(ENTRY, manifest)
    with torch.no_grad():
        direct = torch.nn.functional.normalize(model.encode_text(tokenizer(words)), dim=-1)
    np.testing.assert_allclose(values, direct.numpy(), atol=1e-5)


def test_float16_scorer_rounds_embeddings_as_the_authors(probe_index, tmp_path, manifest):
    """clip_embedding.dtype float16: raw features rounded to float16, then normalised."""
    concepts = tmp_path / "concepts.txt"
    words = ["red", "striped", "dog", "snorkeling"]
    concepts.write_text("\n".join(words) + "\n")
    embed_concepts(ENTRY, manifest, concepts, tmp_path / "c32.nc", device="cpu")
    embed_concepts(ENTRY, manifest, concepts, tmp_path / "c16.nc", device="cpu", dtype="float16")
    embed_images(ENTRY, manifest, probe_index, tmp_path / "i16.nc", device="cpu", dtype="float16")
    model, preprocess, tokenizer = load_clip(ENTRY, manifest)
    with torch.no_grad():
        raw = model.encode_text(tokenizer(words))
        index = pd.read_csv(probe_index)
        batch = torch.stack([preprocess(Image.open(p).convert("RGB")) for p in index["path"]])
        raw_images = model.encode_image(batch)
    with xr.open_dataset(tmp_path / "c32.nc") as a, xr.open_dataset(tmp_path / "c16.nc") as b:
        e32, e16 = a["embedding"].values, b["embedding"].values
        assert json.loads(b.attrs["provenance"])["dtype"] == "float16"
    with xr.open_dataset(tmp_path / "i16.nc") as ds:
        i16 = ds["embedding"].values
    rounded = torch.nn.functional.normalize(raw.half().float(), dim=-1).numpy()
    np.testing.assert_allclose(e16, rounded, atol=1e-6)
    rounded_images = torch.nn.functional.normalize(raw_images.half().float(), dim=-1).numpy()
    np.testing.assert_allclose(i16, rounded_images, atol=1e-6)
    assert not np.array_equal(e16, e32)  # a result setting: the numbers change
    np.testing.assert_allclose(e16, e32, atol=2e-3)
    assert vclip.round_embeddings(raw, "float32").dtype == torch.float32
    with pytest.raises(vclip.ConfigError, match="clip_embedding.dtype"):
        vclip.round_embeddings(raw, "bfloat16")


def test_load_clip_reads_local_weights(tmp_path):
    """A pretrained entry loads exactly the weights file listed in the manifest."""
    donor, _, _ = load_clip(dict(ENTRY, seed=7), tmp_path / "unused.json")
    folder = tmp_path / "clip"
    folder.mkdir()
    torch.save(donor.state_dict(), folder / "open_clip_pytorch_model.bin")
    manifest = folder / "manifest.json"
    manifest.write_text(
        json.dumps(
            {
                "files": {"open_clip_pytorch_model.bin": "x"},
                "weights_file": "open_clip_pytorch_model.bin",
            }
        )
    )
    entry = dict(ENTRY, pretrained="local")
    model, _, _ = load_clip(entry, manifest)
    for (name, a), (_, b) in zip(
        model.state_dict().items(), donor.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), name
    (folder / "open_clip_pytorch_model.bin").unlink()
    with pytest.raises(InputDataError, match="weights"):
        load_clip(entry, manifest)


def test_openai_tag_settings_are_applied(monkeypatch):
    """With the paper's ViT-B-16/openai, the local file is loaded with the tag's QuickGELU."""
    import open_clip

    calls = {}

    def fake_create(name, pretrained=None, **kwargs):
        calls.update(name=name, pretrained=pretrained, **kwargs)
        raise RuntimeError("stop before building a full ViT-B-16")

    monkeypatch.setattr(open_clip, "create_model_and_transforms", fake_create)
    weights_dir = None
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        weights_dir = Path(tmp)
        (weights_dir / "open_clip_model.safetensors").write_bytes(b"x")
        manifest = weights_dir / "manifest.json"
        manifest.write_text(
            json.dumps(
                {
                    "files": {"open_clip_model.safetensors": "x"},
                    "weights_file": "open_clip_model.safetensors",
                }
            )
        )
        with pytest.raises(InputDataError, match="ViT-B-16"):
            load_clip({"arch": "ViT-B-16", "pretrained": "openai"}, manifest)
    assert calls["name"] == "ViT-B-16" and calls["force_quick_gelu"] is True
    assert calls["pretrained"].endswith("open_clip_model.safetensors")
    assert calls["image_interpolation"] == "bicubic"
