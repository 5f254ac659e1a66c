"""Tests of vitconcepts.complexity: per-image measures and per-layer aggregation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from skimage import data

from vitconcepts import complexity as complexity_module
from vitconcepts.complexity import (
    compression_complexity,
    edge_complexity,
    image_complexity,
    score_images,
)
from vitconcepts.errors import ConfigError, InputDataError


@pytest.fixture(scope="module")
def images() -> dict[str, Image.Image]:
    rng = np.random.default_rng(0)
    return {
        "flat": Image.new("RGB", (256, 256), (128, 128, 128)),
        "photo": Image.fromarray(data.astronaut()),
        "noise": Image.fromarray(rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)),
    }


@pytest.fixture
def probe(tmp_path: Path, images: dict[str, Image.Image]) -> Path:
    """A probe index with samples 0=flat, 1=photo, 2=noise."""
    rows = []
    for sample, name in enumerate(["flat", "photo", "noise"]):
        path = tmp_path / f"{name}.png"
        images[name].save(path)
        rows.append((sample, f"test/{name}.png", str(path), "test"))
    index = tmp_path / "index.csv"
    pd.DataFrame(rows, columns=["sample", "sample_id", "path", "part"]).to_csv(index, index=False)
    return index


def write_labels(path: Path, images_per_unit: dict[str, list[str]]) -> Path:
    rows = []
    for layer, cells in images_per_unit.items():
        for unit, cell in enumerate(cells):
            rows.append((layer, unit, "word", 0.5, cell))
    pd.DataFrame(rows, columns=["layer", "unit", "description", "similarity", "images"]).to_csv(
        path, index=False
    )
    return path


@pytest.mark.parametrize("measure", [compression_complexity, edge_complexity])
def test_ordering(images: dict[str, Image.Image], measure) -> None:
    flat, photo, noise = (measure(images[k]) for k in ("flat", "photo", "noise"))
    assert flat < photo
    assert flat < noise
    if measure is compression_complexity:
        assert photo < noise
        assert flat < 0.2 and noise > 6.0


def test_same_value_from_path(tmp_path: Path, images: dict[str, Image.Image]) -> None:
    path = tmp_path / "photo.png"
    images["photo"].save(path)
    assert compression_complexity(path) == compression_complexity(images["photo"])


def test_image_complexity_means_and_cache(
    tmp_path: Path, probe: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = write_labels(tmp_path / "a.csv", {"l[0]": ["[0 0]", "[1]"], "l[1]": ["[2 1]"]})
    b = write_labels(tmp_path / "b.csv", {"s1": ["[0 1 2]"]})
    calls: list[str] = []
    original = complexity_module._MEASURE_FUNCTIONS["compression"]

    def counting(path: str) -> float:
        calls.append(path)
        return original(path)

    monkeypatch.setitem(complexity_module._MEASURE_FUNCTIONS, "compression", counting)
    out = tmp_path / "complexity.csv"
    cache = tmp_path / "cache.csv"
    table = image_complexity({"a": a, "b": b}, probe, out, cache_csv=cache)
    assert len(calls) == 3  # each image scored once across models and layers
    per_image = score_images(dict(enumerate(pd.read_csv(probe)["path"])), "compression", threads=1)
    assert list(table.columns) == ["model", "layer", "complexity", "n_images"]
    assert table[["model", "layer"]].values.tolist() == [["a", 0], ["a", 1], ["b", 0]]
    assert table["n_images"].tolist() == [3, 2, 3]
    assert table["complexity"].iloc[0] == pytest.approx((2 * per_image[0] + per_image[1]) / 3)
    assert table["complexity"].iloc[1] == pytest.approx((per_image[2] + per_image[1]) / 2)
    assert pd.read_csv(out).shape == (3, 4)

    calls.clear()
    again = image_complexity({"a": a}, probe, measure="compression", cache_csv=cache)
    assert calls == []  # served from the cache
    assert again["complexity"].tolist() == pytest.approx(table["complexity"].iloc[:2].tolist())


def test_edges_measure_runs(tmp_path: Path, probe: Path) -> None:
    a = write_labels(tmp_path / "a.csv", {"l0": ["[0]"], "l1": ["[2]"]})
    table = image_complexity({"a": a}, probe, measure="edges")
    assert table["complexity"].iloc[0] < table["complexity"].iloc[1]


STAND_IN = """
import numpy as np

BATCHES = []


def score(images):
    BATCHES.append(len(images))
    assert all(i.dtype == np.uint8 and i.ndim == 3 and i.shape[2] == 3 for i in images)
    return [float(i.std()) for i in images]  # stand-in complexity: pixel spread
"""


def test_learned_needs_a_scorer(tmp_path: Path, probe: Path) -> None:
    a = write_labels(tmp_path / "a.csv", {"l0": ["[0 1]"]})
    with pytest.raises(ConfigError, match="no learned complexity model"):
        image_complexity({"a": a}, probe, measure="learned")
    with pytest.raises(ConfigError, match="not of the form"):
        image_complexity({"a": a}, probe, measure="learned", learned_scorer="no_colon")
    with pytest.raises(ConfigError, match="cannot import"):
        image_complexity({"a": a}, probe, measure="learned", learned_scorer="no_such_mod:f")
    with pytest.raises(InputDataError, match="returned 1 value"):
        image_complexity({"a": a}, probe, measure="learned", learned_scorer=lambda b: [1.0])


def test_learned_scorer_from_file_and_module(
    tmp_path: Path, probe: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A user scorer `file.py:function` / `module:function` gets batches of uint8 RGB arrays."""
    (tmp_path / "my_ic.py").write_text(STAND_IN)
    a = write_labels(tmp_path / "a.csv", {"l0": ["[0 1]"], "l1": ["[2 2]"]})
    index = pd.read_csv(probe)
    expected = {}
    for sample, path in zip(index["sample"], index["path"], strict=True):
        with Image.open(path) as image:
            expected[int(sample)] = float(np.asarray(image.convert("RGB")).std())
    monkeypatch.chdir(tmp_path)
    table = image_complexity(
        {"a": a}, probe, measure="learned", learned_scorer="my_ic.py:score", batch_size=2
    )
    assert table["complexity"].tolist() == [
        np.mean([expected[0], expected[1]]),
        expected[2],
    ]
    monkeypatch.syspath_prepend(str(tmp_path))
    import importlib

    module = importlib.import_module("my_ic")
    again = image_complexity(
        {"a": a}, probe, measure="learned", learned_scorer="my_ic:score", batch_size=2
    )
    assert again["complexity"].tolist() == table["complexity"].tolist()
    assert module.BATCHES == [2, 1]  # 3 distinct images, batches of at most 2


def test_learned_config_check() -> None:
    from vitconcepts.preflight import check_complexity  # run when image_complexity starts

    with pytest.raises(ConfigError, match="complexity.scorer is empty"):
        check_complexity({"complexity": {"measure": "learned", "scorer": None}})
    with pytest.raises(ConfigError, match="`complexity.scorer`"):
        check_complexity({"complexity": {"measure": "learned", "scorer": "mod.py"}})
    check_complexity({"complexity": {"measure": "learned", "scorer": "mod:score"}})
    check_complexity({"complexity": {"measure": "compression", "scorer": None}})


def test_errors(tmp_path: Path, probe: Path) -> None:
    a = write_labels(tmp_path / "a.csv", {"l0": ["[0 7]"]})
    with pytest.raises(InputDataError, match="not in the probe index"):
        image_complexity({"a": a}, probe)
    with pytest.raises(ConfigError, match="complexity.measure"):
        image_complexity({"a": a}, probe, measure="entropy")
    with pytest.raises(InputDataError, match="does not exist"):
        image_complexity({"a": a}, tmp_path / "absent.csv")
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    with pytest.raises(InputDataError, match="Cannot read image"):
        compression_complexity(broken)
