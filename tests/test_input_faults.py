"""Fault injection on the inputs (fast, library level): broken and unusual images, config
typos at every level, wrong data paths, changed input folders, and fixes that work as
printed. The workflow-level cases are in test_input_faults_workflow.py."""

from __future__ import annotations

import copy
import json
import os
import shlex
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import write_images
from PIL import Image, ImageFile

from vitconcepts.errors import ConfigError, InputDataError, VitconceptsError
from vitconcepts.preflight import check_labeling_params
from vitconcepts.probe import ProbeDataset, build_probe_index, decode_image, load_rgb, to_rgb

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "rules"))  # the workflow's parse-time helpers (stdlib only)
import plan_config  # noqa: E402
import plan_inputs  # noqa: E402
from plan_config import check_config, check_keys  # noqa: E402
from plan_inputs import check_part_paths, data_path_problem, parts_fingerprint  # noqa: E402

SCHEMA = ROOT / "config.schema.yaml"


def _build(tmp_path, parts, name="p", threads=2):
    out = tmp_path / "out"
    index = build_probe_index(name, parts, out / "index.csv", out / "index.json", out, threads)
    return index, json.loads((out / "index.json").read_text()), out / "index.csv"


def _jpeg_bytes(size=(64, 48), seed=0) -> bytes:
    import io

    rng = np.random.default_rng(seed)
    buffer = io.BytesIO()
    pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


# -- broken images --------------------------------------------------------------------------
def _break_images(folder: Path) -> dict[str, str]:
    """Write one broken file of every kind; {file name: expected reason fragment}."""
    folder.mkdir(parents=True, exist_ok=True)
    jpeg = _jpeg_bytes()
    (folder / "truncated.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    png = folder / "whole.png"
    Image.fromarray(np.zeros((40, 40, 3), np.uint8) + 7).save(png)
    data = png.read_bytes()
    png.unlink()
    (folder / "truncated.png").write_bytes(data[: len(data) - 30])
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "text.jpeg").write_text("not an image at all\n" * 10)
    # header intact, entropy-coded data replaced by zeros: decoding fails or is truncated
    (folder / "zeroed.jpg").write_bytes(jpeg[:700] + b"\x00" * 200)
    return {
        "truncated.jpg": "truncated",
        "truncated.png": "",
        "empty.jpg": "empty file",
        "text.jpeg": "not an image file PIL can identify",
        "zeroed.jpg": "",
    }


def test_truncated_jpeg_passes_verify_but_not_the_probe_check(tmp_path, image_folder):
    """The old check (Image.verify) accepted truncated JPEGs; the full decode does not."""
    broken = _break_images(image_folder / "broken")
    with Image.open(image_folder / "broken" / "truncated.jpg") as image:
        image.verify()  # does not decode: no error
    with pytest.raises(InputDataError) as info:
        _build(tmp_path, [{"kind": "image_folder", "path": str(image_folder)}])
    message = str(info.value)
    n_total = 12 + len(broken)
    assert f"{len(broken)} of {n_total} image file(s) cannot be decoded" in message
    for name, why in broken.items():
        path = image_folder / "broken" / name
        assert str(path) in message, name
        assert why in message.split(str(path), 1)[1].split(";")[0], (name, message)
    listing = (tmp_path / "out" / "bad_images.tsv").read_text().splitlines()
    assert sorted(Path(line.split("\t")[0]).name for line in listing) == sorted(broken)
    assert not (tmp_path / "out" / "index.csv").exists()
    # the fix works as printed: remove the files, the same call succeeds, the list is gone
    assert "run the same snakemake command again" in message
    for name in broken:
        (image_folder / "broken" / name).unlink()
    index, _, _ = _build(tmp_path, [{"kind": "image_folder", "path": str(image_folder)}])
    assert len(index) == 12 and not (tmp_path / "out" / "bad_images.tsv").exists()


def test_truncated_images_are_caught_even_if_a_library_allowed_them(tmp_path, monkeypatch):
    folder = tmp_path / "imgs"
    folder.mkdir()
    jpeg = _jpeg_bytes()
    (folder / "a.jpg").write_bytes(jpeg)
    (folder / "b.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    with pytest.raises(InputDataError, match=r"1 of 2 image file\(s\).*b\.jpg.*truncated"):
        _build(tmp_path, [{"kind": "image_folder", "path": str(folder)}])
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_decode_check_runs_in_threads_and_matches_serial(tmp_path):
    folder = tmp_path / "imgs"
    write_images(folder, {"a": 20, "b": 20}, ext=".jpg")
    one, meta1, _ = _build(
        tmp_path / "serial", [{"kind": "image_folder", "path": str(folder)}], threads=1
    )
    many, meta4, _ = _build(
        tmp_path / "threads", [{"kind": "image_folder", "path": str(folder)}], threads=4
    )
    assert meta1["sha256"] == meta4["sha256"] and one.equals(many)


def test_image_changed_after_indexing_names_file_and_forcerun(tmp_path, image_folder):
    _, _, csv = _build(tmp_path, [{"kind": "image_folder", "path": str(image_folder)}])
    victim = image_folder / "cat" / "img_001.png"
    victim.write_bytes(victim.read_bytes()[:100])
    with pytest.raises(InputDataError) as info:
        ProbeDataset(csv)[1]
    assert str(victim) in str(info.value)
    assert "`--forcerun prepare_probe` at the end of your snakemake command" in str(info.value)


# -- image modes ------------------------------------------------------------------------------
def _gradient16(width=256, height=8) -> np.ndarray:
    row = np.linspace(0, 65535, width).round().astype(np.uint16)
    return np.tile(row, (height, 1))


def test_16bit_greyscale_is_scaled_not_clipped(tmp_path):
    path = tmp_path / "g16.png"
    Image.fromarray(_gradient16()).save(path)
    with Image.open(path) as image:
        assert image.mode == "I;16"
        clipped = np.asarray(image.convert("RGB"))
    assert (clipped == 255).mean() > 0.9  # what PIL's convert does (the bug)
    rgb = np.asarray(load_rgb(str(path)))
    assert rgb.shape == (8, 256, 3) and rgb.dtype == np.uint8
    assert rgb[0, 0, 0] == 0 and rgb[0, -1, 0] == 255
    assert abs(rgb.mean() - 127.5) < 1.0
    assert np.all(np.diff(rgb[0, :, 0].astype(int)) >= 0)  # monotone: no wrap-around


@pytest.mark.parametrize("mode", ["I;16B", "I;16L", "I"])
def test_other_wide_integer_modes_use_the_16bit_range(mode):
    values = _gradient16(64, 2)
    if mode == "I":
        image = Image.fromarray(values.astype(np.int32), "I")
    else:
        dtype = ">u2" if mode == "I;16B" else "<u2"
        image = Image.frombytes(mode, (64, 2), values.astype(dtype).tobytes())
    assert image.mode == mode
    rgb = np.asarray(to_rgb(image))
    assert rgb[0, 0, 0] == 0 and rgb[0, -1, 0] == 255 and abs(rgb.mean() - 127.5) < 2


def test_float_images_in_unit_range_are_scaled():
    image = Image.fromarray(np.full((4, 4), 0.5, np.float32), "F")
    assert np.asarray(to_rgb(image))[0, 0].tolist() == [128, 128, 128]


def test_alpha_and_palette_transparency_composite_over_white():
    rgba = Image.new("RGBA", (4, 4), (255, 0, 0, 0))
    rgba.putpixel((0, 0), (255, 0, 0, 255))
    out = np.asarray(to_rgb(rgba))
    assert out[0, 0].tolist() == [255, 0, 0] and out[1, 1].tolist() == [255, 255, 255]
    la = Image.new("LA", (2, 2), (0, 0))
    assert np.asarray(to_rgb(la))[0, 0].tolist() == [255, 255, 255]
    pal = Image.new("P", (2, 2), 1)
    pal.putpalette([0, 0, 0, 10, 20, 30] + [0] * 762)
    assert np.asarray(to_rgb(pal))[0, 0].tolist() == [10, 20, 30]  # no transparency: as PIL
    pal.info["transparency"] = 1
    assert np.asarray(to_rgb(pal))[0, 0].tolist() == [255, 255, 255]


def test_8bit_modes_convert_exactly_like_torchvision():
    rng = np.random.default_rng(0)
    rgb = Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8))
    for image in (rgb, rgb.convert("L"), rgb.convert("CMYK"), rgb.convert("1")):
        assert np.array_equal(np.asarray(to_rgb(image)), np.asarray(image.convert("RGB")))


def test_a_folder_of_every_mode_indexes_and_loads_as_rgb(tmp_path):
    folder = tmp_path / "modes"
    folder.mkdir()
    Image.fromarray(_gradient16(32, 32)).save(folder / "a_i16.png")
    Image.new("RGBA", (32, 32), (0, 0, 255, 128)).save(folder / "b_rgba.png")
    Image.new("LA", (32, 32), (50, 200)).save(folder / "c_la.png")
    pal = Image.new("P", (32, 32), 1)
    pal.putpalette([0, 0, 0, 10, 20, 30] + [0] * 762)
    pal.save(folder / "d_pal.png", transparency=0)
    Image.new("CMYK", (32, 32), (0, 255, 255, 0)).save(folder / "e_cmyk.jpg")
    Image.new("1", (32, 32), 1).save(folder / "f_bw.png")
    Image.fromarray(np.full((32, 32), 0.25, np.float32), "F").save(folder / "g_float.tif")
    Image.frombytes("I;16B", (32, 32), _gradient16(32, 32).astype(">u2").tobytes()).save(
        folder / "h_i16b.tif"
    )
    index, _, csv = _build(tmp_path, [{"kind": "image_folder", "path": str(folder)}])
    assert len(index) == 8
    dataset = ProbeDataset(csv)
    for i in range(len(index)):
        image, _ = dataset[i]
        assert image.mode == "RGB" and image.size == (32, 32)
    i16 = np.asarray(dataset[0][0])
    assert abs(i16.mean() - 127.5) < 2  # not 99 % white


def _exif_jpeg(path: Path, orientation: int = 6) -> None:
    image = Image.new("RGB", (40, 20), (200, 10, 10))
    exif = Image.Exif()
    exif[0x0112] = orientation
    image.save(path, exif=exif)


def test_exif_orientation_ignored_by_default_and_applied_when_asked(tmp_path):
    folder = tmp_path / "phone"
    folder.mkdir()
    _exif_jpeg(folder / "rotated.jpg")
    assert decode_image(folder / "rotated.jpg").size == (40, 20)  # ImageFolder behaviour
    assert decode_image(folder / "rotated.jpg", exif_transpose=True).size == (20, 40)

    _, plain, csv_plain = _build(tmp_path / "a", [{"kind": "image_folder", "path": str(folder)}])
    _, turned, csv_turned = _build(
        tmp_path / "b", [{"kind": "image_folder", "path": str(folder), "exif_transpose": True}]
    )
    assert ProbeDataset(csv_plain)[0][0].size == (40, 20)
    assert ProbeDataset(csv_turned)[0][0].size == (20, 40)
    assert turned["parts"][0]["exif_transpose"] is True
    assert plain["sha256"] != turned["sha256"]  # the pixels a model sees differ


def test_exif_transpose_is_a_schema_key_defaulting_to_false():
    from snakemake.utils import validate

    config = yaml.safe_load((ROOT / ".test" / "config.yaml").read_text())
    validate(config, str(SCHEMA))
    assert config["probes"]["test"]["parts"][0]["exif_transpose"] is False


# -- config typos ---------------------------------------------------------------------------
@pytest.fixture()
def tiny() -> dict:
    return yaml.safe_load((ROOT / ".test" / "config.yaml").read_text())


def _typo(config: dict, path: str, key: str, value) -> dict:
    config = copy.deepcopy(config)
    node = config
    for part in path.split("/") if path else []:
        node = node[int(part)] if part.isdigit() else node.setdefault(part, {})
    node[key] = value
    return config


TYPOS = [
    # (where, typo, value, key path in the message, suggestion)
    ("", "modles", {}, "`modles`", "models"),
    ("", "labelling", {"method": "wpmi"}, "`labelling`", "labeling"),
    ("", "concept_sett", "x", "`concept_sett`", "concept_set"),
    ("dump", "batchsize", 8, "`dump.batchsize`", "batch_size"),
    ("labeling", "n_top_image", 3, "`labeling.n_top_image`", "n_top_images"),
    ("clip_embedding", "text_batchsize", 8, "`clip_embedding.text_batchsize`", "text_batch_size"),
    ("probes/test/parts/0", "sede", 1, "`probes.test.parts[0].sede`", "seed"),
    ("concept_sets/test", "min_lenght", 3, "`concept_sets.test.min_lenght`", "min_length"),
    (
        "clip_models/tiny_clip",
        "pretrianed",
        None,
        "`clip_models.tiny_clip.pretrianed`",
        "pretrained",
    ),
    (
        "models/tiny_vit",
        "finetuned_form",
        "x",
        "`models.tiny_vit.finetuned_form`",
        "finetuned_from",
    ),
    ("analysis", "vit", [], "`analysis.vit`", "vits"),
    (
        "analysis/example_units",
        "unit_per_layer",
        1,
        "`analysis.example_units.unit_per_layer`",
        "units_per_layer",
    ),
    ("categories", "curate", True, "`categories.curate`", "curated"),
    ("complexity", "measures", "edges", "`complexity.measures`", "measure"),
    ("gpu", "embed_images", 0, "`gpu.embed_images`", "embed"),
    ("published", "base_ulr", "http://x", "`published.base_ulr`", "base_url"),
]


@pytest.mark.parametrize(("where", "typo", "value", "shown", "guess"), TYPOS)
def test_unknown_keys_at_every_level_name_the_path_and_a_did_you_mean(
    tiny, where, typo, value, shown, guess
):
    from snakemake.utils import validate

    config = _typo(tiny, where, typo, value)
    validate(config, str(SCHEMA))  # JSON schema lets them through: check_config must not
    with pytest.raises(plan_config.ConfigError) as info:
        check_config(config, SCHEMA)
    message = str(info.value)
    assert f"{shown} is not a config key (did you mean `{guess}`?)" in message, message
    assert f"rename `{typo}` to `{guess}`" in message
    assert message.count("Fix:") == 1 and "\n" not in message


def test_every_unknown_key_is_listed_at_once(tiny):
    config = _typo(_typo(tiny, "", "modles", {}), "dump", "zzz_unrelated", 1)
    with pytest.raises(plan_config.ConfigError) as info:
        check_keys(config, SCHEMA)
    message = str(info.value)
    assert message.startswith("2 unknown config key(s)")
    assert "`dump.zzz_unrelated` is not a config key;" in message  # no far-fetched guess
    assert "remove `zzz_unrelated`" in message


def test_key_of_another_part_kind_is_flagged(tiny):
    config = _typo(tiny, "probes/test/parts/0", "include_masks", True)
    with pytest.raises(
        plan_config.ConfigError,
        match=r"parts\[0\]\.include_masks` is not used: it applies "
        r"to kind broden only, and this entry has kind synthetic",
    ):
        check_keys(config, SCHEMA)
    # a default filled in by the schema (include_masks: false) is not a typo
    check_keys(_typo(tiny, "probes/test/parts/0", "include_masks", False), SCHEMA)


def test_labeling_params_typo_has_a_did_you_mean(tiny):
    config = _typo(tiny, "labeling/params", "topk", 5)
    with pytest.raises(ConfigError) as info:  # checked when label_units starts
        check_labeling_params(config)
    assert "`labeling.params.topk` (did you mean `top_k`?)" in str(info.value)


def test_free_form_blocks_and_paper_configs_pass(tiny):
    from snakemake.utils import validate

    check_keys(yaml.safe_load((ROOT / "config/published.yaml").read_text()), SCHEMA)
    for name in ("config.yaml", ".test/config.yaml"):
        config = yaml.safe_load((ROOT / name).read_text())
        check_keys(config, SCHEMA)
        validate(config, str(SCHEMA))
        check_keys(config, SCHEMA)  # with every default filled in
    config = _typo(tiny, "models/tiny_vit/model_kwargs", "anything_goes", 1)
    check_keys(config, SCHEMA)


def test_new_schema_keys_are_known_without_code_changes(tiny):
    schema = yaml.safe_load(SCHEMA.read_text())
    config = _typo(tiny, "", "future_option", True)
    with pytest.raises(plan_config.ConfigError):
        check_keys(config, schema)
    schema["properties"]["future_option"] = {"type": "boolean", "default": False}
    check_keys(config, schema)


# -- data paths -------------------------------------------------------------------------------
def _paper() -> dict:
    return yaml.safe_load((ROOT / "config.yaml").read_text())


def test_imagenet_val_problems_are_found_without_listing_it(tmp_path):
    config = _paper()
    assert "`imagenet_val` is not set" in data_path_problem(config)
    config["imagenet_val"] = str(tmp_path / "nope")
    assert "which does not exist" in data_path_problem(config)
    flat = tmp_path / "flat"
    write_images(tmp_path, {"flat": 2}, ext=".JPEG")
    config["imagenet_val"] = str(flat)
    assert "no class sub-folders" in data_path_problem(config)
    empty = tmp_path / "empty"
    (empty / "n01440764").mkdir(parents=True)
    config["imagenet_val"] = str(empty)
    assert "hold no images" in data_path_problem(config)
    good = tmp_path / "val"
    write_images(good, {"n01440764": 1, "n01443537": 1}, ext=".JPEG")
    config["imagenet_val"] = str(good)
    assert data_path_problem(config) is None
    config["labels_source"] = "published"
    config["imagenet_val"] = ""
    assert data_path_problem(config) is None  # published labels need no probe


def test_missing_image_folder_fix_is_yaml_not_dotted_config(tmp_path):
    with pytest.raises(plan_inputs.InputDataError) as info:
        check_part_paths("mine", [{"kind": "image_folder", "path": str(tmp_path / "x")}])
    message = str(info.value)
    assert "`probes.mine.parts[0].path`" in message and "<probe>" not in message
    assert "--config probes" not in message  # Snakemake rejects nested --config keys
    assert "probes: {mine: {parts: [{kind: ..., path: /data/my_images}]}}" in message
    snippet = message.split("e.g. `", 1)[1].split("`", 1)[0]
    assert yaml.safe_load(snippet)["probes"]["mine"]["parts"][0]["path"] == "/data/my_images"


def test_concept_file_problem(tmp_path, tiny):
    tiny["concept_sets"]["mine"] = {"kind": "file", "path": str(tmp_path / "none.txt")}
    tiny["concept_set"] = "mine"
    message = data_path_problem(tiny)
    assert "`concept_sets.mine.path` is" in message
    snippet = message.split("e.g. `", 1)[1].split("`", 1)[0]
    assert yaml.safe_load(snippet) == {
        "concept_sets": {"mine": {"kind": "file", "path": "/data/concepts.txt"}}
    }


def test_imagenet_fix_is_a_top_level_config_snakemake_accepts():
    message = data_path_problem(_paper())
    command = message.split("run with `", 1)[1].split("`", 1)[0]
    args = shlex.split(command)
    assert args[0] == "--config" and "." not in args[1].split("=")[0]


# -- input fingerprints ---------------------------------------------------------------------
def test_folder_fingerprint_tracks_added_removed_and_edited_images(tmp_path):
    folder = tmp_path / "imgs"
    paths = write_images(folder, {"a": 3, "b": 2})
    parts = [{"kind": "image_folder", "path": str(folder)}, {"kind": "synthetic", "n": 4}]
    first = parts_fingerprint(parts)
    assert list(first) == ["0"] and parts_fingerprint(parts) == first
    (folder / "a" / "notes.txt").write_text("not an image")  # not indexed: no change
    assert parts_fingerprint(parts) == first

    Image.new("RGB", (9, 9)).save(folder / "b" / "new.png")
    added = parts_fingerprint(parts)
    assert added != first
    (folder / "b" / "new.png").unlink()
    assert parts_fingerprint(parts) == first
    stat = paths[0].stat()
    Image.new("RGB", (9, 9), (1, 2, 3)).save(paths[0])
    os.utime(paths[0], ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert parts_fingerprint(parts) != first
    paths[1].unlink()
    assert parts_fingerprint(parts) != first


# -- messages -----------------------------------------------------------------------------
def test_a_wrapped_error_keeps_one_fix():
    inner = InputDataError("Cannot fetch http://x/a.csv (HTTP 404).", "check the URL.")
    outer = InputDataError(f"Downloading the published file a.csv failed: {inner}", "Fix: set X.")
    message = str(outer)
    assert message.count("Fix:") == 1
    assert message.endswith("Fix: check the URL; or set X.")
    assert str(VitconceptsError("What.", "fix: do it.")) == "What. Fix: do it."


def test_nan_activations_name_the_file_and_a_fix_not_numerics(tmp_path):
    import xarray as xr
    from test_labeling import run_label, write_inputs

    act_nc, img_nc, txt_nc, concepts = write_inputs(tmp_path / "in")
    with xr.open_dataset(act_nc) as ds:
        data = ds.load()
    data["activations"].values[1, 3, 5] = np.nan  # a hole in a real (not padded) unit
    # where the workflow keeps activations, so the fix can name the rule that writes them
    damaged = tmp_path / "results" / "activations" / "p" / "vit.nc"
    damaged.parent.mkdir(parents=True)
    data.to_netcdf(damaged)
    with pytest.raises(InputDataError) as info:
        run_label((damaged, img_nc, txt_nc, concepts), tmp_path / "out")
    message = str(info.value)
    assert str(damaged) in message and "NaN/inf" in message
    assert "layer blocks.1" in message.lower()
    assert "numerics" not in message  # a damaged file or input is the likelier cause
    assert message.count("Fix:") == 1 and "Fix: delete" in message
