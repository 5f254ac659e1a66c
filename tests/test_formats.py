"""Tests of vitconcepts.formats: every file format's reader and writer, round trips, the
``images`` cell styles in use (ours, the authors' published files, hand-written lists) and
the error paragraphs of the readers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vitconcepts.errors import InputDataError
from vitconcepts.formats import (
    LABEL_COLUMNS,
    check_labels,
    format_images,
    parse_images,
    read_activation_layout,
    read_labels,
    read_layer,
    read_probe_index,
    read_topk,
    topk_writer,
    write_labels,
    write_probe_index,
    write_topk_layer,
)
from vitconcepts.ncstream import ShardedNetCDFWriter

REFERENCE = Path(__file__).resolve().parents[1].parent / "shared" / "paper-reference"
SRC = Path(__file__).resolve().parents[1] / "src"


def test_formats_import_neither_torch_nor_a_stage() -> None:
    code = (
        "import sys, vitconcepts.formats\n"
        "heavy = sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.'))\n"
        "stages = sorted(m for m in sys.modules if m.startswith('vitconcepts.') and m.split('.')[1]"
        " not in ('formats', 'errors', 'io_errors', 'ncstream'))\n"
        "print(heavy, stages)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"},
    )
    assert out.stdout.strip() == "[] []", out.stdout


# --- the images cell ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cell", "samples"),
    [
        ("[72237 75859 27664 72329  2480]", [72237, 75859, 27664, 72329, 2480]),  # authors
        ("[ 72227  77674  72237 111615  74123]", [72227, 77674, 72237, 111615, 74123]),
        ("[  245  7455 74287  7469 77584]", [245, 7455, 74287, 7469, 77584]),
        ("[1]", [1]),
        ("[0 1 2\n 3 4]", [0, 1, 2, 3, 4]),  # numpy wraps long arrays over lines
        ("[1, 2,3]", [1, 2, 3]),  # a Python list
        ("(4, 5)", [4, 5]),  # a tuple
        ("7 8 9", [7, 8, 9]),  # bare
        (" [1 2] ", [1, 2]),
        ("", []),
        ("[]", []),
        ("nan", []),
    ],
)
def test_parse_images_styles(cell: str, samples: list[int]) -> None:
    assert parse_images(cell) == samples


@pytest.mark.parametrize("cell", ["[1 2 ...]", "[a b]", "[np.int64(5)]", "[1.5 2]", "[1 2)"])
def test_parse_images_rejects_what_is_not_a_list_of_indices(cell: str) -> None:
    with pytest.raises(ValueError, match="not a sample index"):
        parse_images(cell)


def test_format_images_prints_like_numpy_and_reads_back() -> None:
    assert format_images([72237, 75859, 27664, 72329, 2480]) == "[72237 75859 27664 72329  2480]"
    assert format_images(np.array([72227, 77674, 72237, 111615, 74123])) == (
        "[ 72227  77674  72237 111615  74123]"
    )
    many = np.arange(1500) * 37  # numpy's str would print "..." from 1000 elements on
    assert "..." not in format_images(many)
    assert parse_images(format_images(many)) == many.tolist()


@pytest.fixture(scope="module")
def reference() -> Path:
    if not (REFERENCE / "vit.csv").is_file():
        pytest.skip(f"the authors' published label files are not at {REFERENCE} on this machine")
    return REFERENCE


def test_published_label_files_read_and_their_cells_round_trip(reference: Path) -> None:
    for path in sorted(reference.glob("*.csv")):
        frame = read_labels(path)
        assert list(frame.columns) == [*LABEL_COLUMNS, "layer_index"], path
        cells = frame["images"].tolist()
        parsed = [parse_images(cell) for cell in cells]
        assert {len(samples) for samples in parsed} == {5}, path
        assert [format_images(samples) for samples in parsed] == cells, path


# --- label CSV ---------------------------------------------------------------------------


def _table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "layer": ["blocks[10]", "blocks[10]", "blocks[9]"],
            "unit": [0, 1, 0],
            "description": ["null", "na", "red"],
            "similarity": np.array([0.19381714, 0.5, 0.125], dtype=np.float32),
            "images": [[72237, 75859, 27664, 72329, 2480], np.array([1, 2, 3, 4, 5]), "[7 8]"],
        }
    )


def test_label_csv_round_trip(tmp_path: Path) -> None:
    out = write_labels(_table(), tmp_path / "sub" / "m.csv")
    assert not list(tmp_path.glob("sub/*.part"))
    assert out.read_text().splitlines() == [
        "layer,unit,description,similarity,images",
        "blocks[10],0,null,0.19381714,[72237 75859 27664 72329  2480]",
        "blocks[10],1,na,0.5,[1 2 3 4 5]",
        "blocks[9],0,red,0.125,[7 8]",
    ]
    frame = read_labels(out)
    assert frame["description"].tolist() == ["null", "na", "red"]  # words, not NaN
    assert frame["layer_index"].tolist() == [0, 0, 1]  # network order, not string order
    assert frame["unit"].dtype == np.int64 and frame["similarity"].dtype == float
    assert [parse_images(c) for c in frame["images"]][2] == [7, 8]


def test_write_labels_needs_every_column(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="images"):
        write_labels(_table().drop(columns="images"), tmp_path / "m.csv")


GOOD = """layer,unit,description,similarity,images
blocks.0,0,red,0.5,[1 2 3 4 5]
blocks.0,1,dog,0.25,[1 2 3 4 5]
blocks.1,0,sky,0.75,[1 2 3 4 5]
blocks.1,1,car,0.125,[1 2 3 4 5]
"""

BAD_LABELS = [
    ("text similarity", GOOD.replace("0.25", "high"), "a similarity that is not a number"),
    ("NaN similarity", GOOD.replace("0.25", "nan"), "NaN/inf or empty similarity, first line 3"),
    ("unit not an integer", GOOD.replace("blocks.0,1,", "blocks.0,one,"), "not an integer"),
    ("unit beyond the layer", GOOD.replace("blocks.1,1,", "blocks.1,2,"), "out of range: [2]"),
    ("repeated unit", GOOD + "blocks.1,1,cat,0.5,[1 2 3 4 5]\n", "repeated: [1]"),
    ("no layer", GOOD.replace("blocks.1,0,", ",0,"), "have no layer, first line 4"),
    ("missing images column", GOOD.replace(",images", ",img"), "lacks column(s) ['images']"),
    ("empty images cell", GOOD.replace("car,0.125,[1 2 3 4 5]", "car,0.125,[]"), "line 5"),
    ("garbled images cell", GOOD.replace("dog,0.25,[1 2 3 4 5]", "dog,0.25,[1 2 ...]"), "`["),
    ("negative sample", GOOD.replace("dog,0.25,[1 2 3 4 5]", "dog,0.25,[-1 2]"), "images="),
    ("no rows", "layer,unit,description,similarity,images\n", "has no rows"),
    ("not a CSV", 'layer,unit\n"a,0\n', "not a readable CSV"),
]


@pytest.mark.parametrize(("why", "text", "says"), BAD_LABELS, ids=[b[0] for b in BAD_LABELS])
def test_bad_label_file_is_one_paragraph_naming_file_rule_and_fix(tmp_path, why, text, says):
    path = tmp_path / "results" / "labels" / "test" / "vit.csv"
    path.parent.mkdir(parents=True)
    path.write_text(GOOD)
    assert len(read_labels(path)) == 4
    path.write_text(text)
    with pytest.raises(InputDataError) as info:
        read_labels(path)
    message = str(info.value)
    assert str(path) in message and says in message, message
    assert f"--forcerun label_units -- {path}" in message, message


def test_missing_label_file(tmp_path: Path) -> None:
    with pytest.raises(InputDataError, match=r"absent\.csv does not exist"):
        read_labels(tmp_path / "absent.csv")


def test_images_column_optional_only_when_asked(tmp_path: Path) -> None:
    path = tmp_path / "other_labeler.csv"
    frame = pd.read_csv(pd.io.common.StringIO(GOOD)).drop(columns="images")
    frame.to_csv(path, index=False)
    assert len(read_labels(path, images=False)) == 4
    with pytest.raises(InputDataError, match="lacks column"):
        read_labels(path)
    checked = check_labels(frame, path, images=False)
    assert checked["unit"].dtype == np.int64


# --- probe index -------------------------------------------------------------------------


def test_probe_index_round_trip(tmp_path: Path) -> None:
    written = write_probe_index(
        tmp_path / "p" / "index.csv",
        ["part/a.png", "part/NA.png"],
        ["/data/a.png", "/data/NA.png"],
        ["part", "part"],
    )
    assert list(written.columns) == ["sample", "sample_id", "path", "part"]
    assert (tmp_path / "p" / "index.csv").read_text().splitlines()[
        0
    ] == "sample,sample_id,path,part"
    read = read_probe_index(tmp_path / "p" / "index.csv")
    assert read.equals(written)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("sample,sample_id,path\n0,p/a.png,/a.png\n", "no part column"),
        ("sample,sample_id,path,part\n1,p/a.png,/a.png,p\n", "numbered from 1"),
        ("sample,sample_id,path,part\nx,p/a.png,/a.png,p\n", "not a number"),
        ("", "empty"),
    ],
)
def test_bad_probe_index(tmp_path: Path, text: str, why: str) -> None:
    path = tmp_path / "index.csv"
    path.write_text(text)
    with pytest.raises(InputDataError) as info:
        read_probe_index(path)
    message = str(info.value)
    assert f"{path} is not a probe index" in message and f"rm {path}" in message, why


def test_missing_probe_index(tmp_path: Path) -> None:
    with pytest.raises(InputDataError, match="prepare_probe"):
        read_probe_index(tmp_path / "index.csv")


# --- top-k file --------------------------------------------------------------------------


def test_topk_round_trip_with_padding(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    layers, n_units, concepts = ["l0", "l1"], [3, 2], ["red", "dog", "sky", "car"]
    written = []
    out = tmp_path / "m.nc"
    with topk_writer(out, layers, n_units, concepts, n_rank=2, n_top_images=3) as writer:
        assert writer.start == 0
        for li, nu in enumerate(n_units):
            ci = rng.integers(0, 4, (nu, 2)).astype(np.int32)
            sc = rng.random((nu, 2)).astype(np.float32)
            ti = rng.integers(0, 100, (nu, 3))
            write_topk_layer(writer, li, ci, sc, ti)
            written.append((ci, sc, ti))
        half = read_topk(writer.partial_path)  # the labeling step reads the partial file
        writer.finalize({"provenance": "{}"})
    topk = read_topk(out)
    assert half.layers == topk.layers == layers and half.concepts == topk.concepts == concepts
    assert topk.n_units.tolist() == n_units
    for li, (ci, sc, ti) in enumerate(written):
        nu = n_units[li]
        np.testing.assert_array_equal(topk.concept_index[li, :nu], ci)
        np.testing.assert_array_equal(topk.score[li, :nu], sc)
        np.testing.assert_array_equal(topk.top_images[li, :nu], ti)
        assert topk.best_concepts(li) == [concepts[i] for i in ci[:, 0]]
    assert (topk.concept_index[1, 2:] == -1).all() and np.isnan(topk.score[1, 2:]).all()
    assert (topk.top_images[1, 2:] == -1).all()


def test_missing_topk_file(tmp_path: Path) -> None:
    with pytest.raises(InputDataError, match="does not exist"):
        read_topk(tmp_path / "absent.nc")


# --- activation file ---------------------------------------------------------------------


@pytest.fixture
def activations_nc(tmp_path: Path) -> tuple[Path, list[np.ndarray]]:
    """An activation file as dump_activations writes it: layers of 4 and 2 units, 5 samples."""
    rng = np.random.default_rng(1)
    values = [rng.random((5, 4), dtype=np.float32), rng.random((5, 2), dtype=np.float32)]
    out = tmp_path / "acts.nc"
    with ShardedNetCDFWriter(
        out,
        dims={"layer": 2, "unit": 4, "sample": 5},
        coords={
            "layer": (("layer",), np.asarray(["b.0", "b.1"], dtype=object)),
            "unit": (("unit",), np.arange(4)),
            "sample": (("sample",), np.arange(5)),
            "sample_id": (("sample",), np.asarray([f"p/{i}.png" for i in range(5)], object)),
            "n_units": (("layer",), np.asarray([4, 2])),
        },
        variables={"activations": (("layer", "unit", "sample"), "float32", (1, 4, 5))},
        stream_dim="sample",
    ) as writer:
        block = np.full((2, 4, 5), np.nan, dtype=np.float32)
        block[0], block[1, :2] = values[0].T, values[1].T
        writer.write("activations", 0, block)
        writer.mark_done(5)
        writer.finalize()
    return out, values


def test_read_layer_by_name_index_and_from_the_end(activations_nc) -> None:
    path, values = activations_nc
    np.testing.assert_array_equal(read_layer(path, "b.0"), values[0])
    np.testing.assert_array_equal(read_layer(path, 1), values[1])  # no NaN padding
    np.testing.assert_array_equal(read_layer(path, -1), values[1])
    with pytest.raises(KeyError, match="b.9"):
        read_layer(path, "b.9")
    with pytest.raises(IndexError, match="out of range"):
        read_layer(path, 2)


def test_read_activation_layout(activations_nc, tmp_path: Path) -> None:
    path, _ = activations_nc
    layout = read_activation_layout(path)
    assert layout.layers == ["b.0", "b.1"] and layout.n_units.tolist() == [4, 2]
    assert layout.samples.tolist() == list(range(5)) and layout.sample_ids[4] == "p/4.png"
    damaged = tmp_path / "damaged.nc"
    damaged.write_bytes(path.read_bytes()[:200])
    with pytest.raises(InputDataError, match="truncated or corrupt"):
        read_activation_layout(damaged)
