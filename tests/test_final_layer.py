"""The final-layer check: a classifier's output units labelled with its class names."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from vitconcepts.errors import InputDataError
from vitconcepts.final_layer import (
    COLUMNS,
    check_final_layer,
    read_final_layer,
    summarise_final_layer,
)
from vitconcepts.labeling import label_units
from vitconcepts.tables import table_final_layer

CLASSES = [f"class {i}, synonym {i}" for i in range(20)]
PARAMS = {"top_k": 10, "a": 10, "lam": 1, "p_start": 0.998, "p_end": 0.97, "min_prob": 1e-7}


def write_classifier(root: Path, shuffle: bool = False, seed: int = 0, n_per: int = 12, dim=24):
    """A planted classifier: images of synthetic class i sit near class name i in a planted
    CLIP space, and logit unit i fires on them (``shuffle``: the head's rows permuted)."""
    rng = np.random.default_rng(seed)
    n_classes = len(CLASSES)
    label = np.repeat(np.arange(n_classes), n_per)
    n = len(label)
    text = rng.standard_normal((n_classes, dim))
    text /= np.linalg.norm(text, axis=1, keepdims=True)
    image = rng.standard_normal((n, dim)) * 0.6 + 2.0 * text[label]
    image /= np.linalg.norm(image, axis=1, keepdims=True)
    logits = 0.3 * rng.standard_normal((n_classes, n))
    logits[label, np.arange(n)] += rng.uniform(1.0, 2.0, n)
    if shuffle:  # a head whose rows belong to other classes (a derangement)
        logits = logits[np.roll(np.arange(n_classes), 1)]
    ids = [f"part/img_{i:04d}.png" for i in range(n)]
    root.mkdir(parents=True, exist_ok=True)
    paths = {k: root / f"{k}.nc" for k in ("logits", "images", "classes_emb")}
    xr.Dataset(
        {"activations": (("layer", "unit", "sample"), logits[None].astype(np.float32))},
        coords={
            "layer": ["fc"],
            "unit": np.arange(n_classes),
            "sample": np.arange(n),
            "sample_id": ("sample", ids),
            "n_units": ("layer", [n_classes]),
        },
        attrs={"provenance": "{}"},
    ).to_netcdf(paths["logits"])
    xr.Dataset(
        {"embedding": (("sample", "dim"), image.astype(np.float32))},
        coords={"sample": np.arange(n), "sample_id": ("sample", ids)},
        attrs={"normalised": 1},
    ).to_netcdf(paths["images"])
    xr.Dataset(
        {"embedding": (("concept", "dim"), text.astype(np.float32))},
        coords={"concept": CLASSES},
        attrs={"normalised": 1},
    ).to_netcdf(paths["classes_emb"])
    paths["classes"] = root / "classes.txt"
    paths["classes"].write_text("\n".join(CLASSES))  # no trailing newline, as the ImageNet file
    return paths


def run_check(root: Path, shuffle: bool = False):
    paths = write_classifier(root, shuffle=shuffle)
    label_units(
        paths["logits"],
        paths["images"],
        paths["classes_emb"],
        paths["classes"],
        root / "labels.csv",
        root / "topk.nc",
        params=PARAMS,
        n_top_concepts=5,
        device="cpu",
    )
    table = check_final_layer(
        root / "topk.nc", paths["classes_emb"], paths["classes"], root / "check.csv"
    )
    return table, paths


def test_planted_head_is_labelled_with_its_classes(tmp_path):
    table, _ = run_check(tmp_path)
    assert list(table.columns) == list(COLUMNS)
    assert table["class"].tolist() == CLASSES
    summary = summarise_final_layer(read_final_layer(tmp_path / "check.csv"))
    assert summary["n_units"] == len(CLASSES)
    assert summary["top1"] >= 0.95 and summary["top5"] == 1.0
    # a label that is its class has cosine 1 with it
    assert np.allclose(table.loc[table["top1"], "cosine"], 1.0, atol=1e-5)
    assert (tmp_path / "check.csv.provenance.json").is_file()


def test_shuffled_head_fails(tmp_path):
    table, _ = run_check(tmp_path, shuffle=True)
    summary = summarise_final_layer(table)
    assert summary["top1"] <= 0.1
    assert summary["cosine"] < 0.5
    # each unit is labelled with the class whose images it now fires on
    expected = [CLASSES[(u - 1) % len(CLASSES)] for u in range(len(CLASSES))]
    assert (table["label"] == expected).mean() >= 0.95


def test_class_count_must_match_units(tmp_path):
    table, paths = run_check(tmp_path)
    short = tmp_path / "short.txt"
    short.write_text("\n".join(CLASSES[:-1]))
    with pytest.raises(InputDataError, match="one to one"):
        check_final_layer(tmp_path / "topk.nc", paths["classes_emb"], short, tmp_path / "x.csv")


def test_table_states_clip_dissect_target(tmp_path):
    run_check(tmp_path)
    out = table_final_layer(
        {"resnet": tmp_path / "check.csv"}, {"resnet": "fc"}, tmp_path / "t.tex"
    )
    text = out.read_text()
    assert "95.5" in text and "98.9" in text and "70.7" in text
    assert r"\texttt{fc}" in text


def test_config_names_the_final_layer_check_and_its_class_names():
    import copy
    import sys

    import yaml

    root = Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(root / "rules"))
    from plan_config import ConfigError, check_config, final_layer_models

    config = yaml.safe_load((root / "config.yaml").read_text())
    check_config(config)
    assert final_layer_models(config) == {"resnet": {"module": "fc", "classes": "imagenet1k"}}
    entry = config["concept_sets"]["imagenet1k"]
    assert "21e7697feaea3bf7d7bc2d2cc8e4047d5f5fd502" in entry["url"]
    assert entry["sha256"].startswith("8b243a5b")
    assert final_layer_models({**config, "labels_source": "published"}) == {}
    bad = copy.deepcopy(config)
    bad["final_layer"]["models"]["resnet"]["classes"] = "imagenet"
    with pytest.raises(ConfigError, match=r"final_layer\.models\.resnet\.classes"):
        check_config(bad)
    bad = copy.deepcopy(config)
    bad["final_layer"]["models"]["resnet50"] = {"module": "fc", "classes": "imagenet1k"}
    with pytest.raises(ConfigError, match=r"final_layer\.models\.resnet50"):
        check_config(bad)


def test_class_names_fetched_with_checksum_keep_unit_order(http_server, tmp_path):
    """The ImageNet file's shape (names with commas, no trailing newline) from a fake server:
    every line one class, in output-unit order."""
    import hashlib

    from vitconcepts.concepts import build_concept_set, read_concepts

    body = "\n".join(CLASSES).encode()
    http_server.routes["/imagenet_labels.txt"] = (200, {}, body)
    entry = {
        "kind": "url",
        "url": f"{http_server.url}/imagenet_labels.txt",
        "sha256": hashlib.sha256(body).hexdigest(),
    }
    out = build_concept_set(entry, tmp_path / "concepts" / "imagenet1k.txt")
    assert read_concepts(out) == CLASSES
