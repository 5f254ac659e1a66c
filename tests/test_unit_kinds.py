"""Unit kinds beyond the CLS token (models.<key>.units): config, extraction, files, workflow.

The real-size identity checks of the four paper ViTs are in tests/test_identity.py; here the
kinds are checked on tiny networks (by hand against the block's own modules), through
``dump_activations`` (one file per kind, one forward pass) and through ``snakemake``.
"""

from __future__ import annotations

import importlib.util
import itertools
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr
import yaml
from test_models import HF_VIT, TIMM_CNN, TIMM_VIT
from workflow_copy import TINY_CONFIG, copy_workflow, planned_jobs, run_snakemake

from vitconcepts.activations import dump_activations, kind_path
from vitconcepts.errors import ConfigError
from vitconcepts.io_errors import rerun_fix
from vitconcepts.models import (
    UNIT_KINDS,
    ActivationExtractor,
    load_model,
    resolve_model_spec,
)

ROOT = Path(__file__).resolve().parents[1]
ALL_VIT_KINDS = ["cls", "patch_mean", "mlp", "mlp_mean"]


def _plan_config():
    spec = importlib.util.spec_from_file_location("plan_config", ROOT / "rules" / "plan_config.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("plan_config", module)
    spec.loader.exec_module(module)
    return module


# -- config ----------------------------------------------------------------------------------
def test_workflow_and_library_know_the_same_kinds():
    assert _plan_config().UNIT_KINDS == UNIT_KINDS


def test_units_default_and_canonical_order():
    assert resolve_model_spec("m", TIMM_VIT).units == ("cls",)
    assert resolve_model_spec("m", TIMM_CNN).units == ("spatial_mean",)
    spec = resolve_model_spec("m", {**TIMM_VIT, "units": ["mlp", "patch_mean"]})
    assert spec.units == ("cls", "patch_mean", "mlp")  # the default is always written
    assert resolve_model_spec("m", {**TIMM_VIT, "units": "cls, mlp"}).units == ("cls", "mlp")
    plan = _plan_config()
    assert plan.unit_kinds("m", {**TIMM_VIT, "units": ["mlp", "patch_mean"]}) == spec.units
    assert plan.dump_rule_name(plan.extra_unit_kinds("m", {**TIMM_VIT, "units": ["mlp"]})) == (
        "dump_activations_mlp"
    )


@pytest.mark.parametrize(
    ("entry", "bad"),
    [({**TIMM_CNN, "units": ["mlp"]}, "'mlp'"), ({**TIMM_VIT, "units": ["spatial_mean"]}, "")],
)
def test_a_kind_the_arch_lacks_is_a_config_error_naming_the_key(entry, bad):
    with pytest.raises(ConfigError) as info:
        resolve_model_spec("m", entry)
    message = str(info.value)
    assert "models.m.units" in message and "Fix:" in message and bad in message
    plan = _plan_config()
    with pytest.raises(plan.ConfigError) as parsed:  # the workflow stops at parse time
        plan.check_models({"m": entry})
    assert "`models.m.units`" in str(parsed.value) and "Fix:" in str(parsed.value)


def test_slurm_profile_covers_every_dump_rule():
    """profiles/slurm lists the GPU rules by name: every kind set's dump rule is among them."""
    plan = _plan_config()
    text = (ROOT / "profiles" / "slurm" / "config.yaml").read_text()
    definitions = yaml.safe_load(text)["__definitions__"]
    scope: dict = {}
    for statement in definitions:
        exec(statement, scope)  # the profile's own yte definitions
    extra = UNIT_KINDS["vit"][1:]
    for n in range(len(extra) + 1):
        for kinds in itertools.combinations(extra, n):
            assert plan.dump_rule_name(kinds) in scope["GPU_RULES"], kinds


def test_rerun_fix_of_an_activation_file_forces_the_file():
    """The dump rule of a model depends on its kinds, so the fix forces the file itself."""
    fix = rerun_fix("results/activations/full/vit.mlp.nc")
    assert "--force -- results/activations/full/vit.mlp.nc" in fix


# -- extraction ------------------------------------------------------------------------------
def _hooked(model, names):
    """{name: [output]} forward hooks on modules, independent of the extractor."""
    store: dict[str, list[torch.Tensor]] = {name: [] for name in names}
    modules = dict(model.named_modules())
    handles = [
        modules[name].register_forward_hook(
            lambda m, i, o, name=name: store[name].append(o[0] if isinstance(o, tuple) else o)
        )
        for name in names
    ]
    return store, handles


@pytest.mark.parametrize("reg_tokens", [0, 3])
def test_timm_vit_kinds_equal_hooks_on_the_block_and_its_activation(reg_tokens):
    entry = {**TIMM_VIT, "units": ALL_VIT_KINDS}
    entry["model_kwargs"] = {**TIMM_VIT["model_kwargs"], "reg_tokens": reg_tokens}
    spec = resolve_model_spec("m", entry)
    model = load_model(spec)
    x = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    got = ActivationExtractor(model, spec).extract(x)
    blocks = ["blocks.0", "blocks.1"]
    store, handles = _hooked(model, [*blocks, *(f"{b}.mlp.act" for b in blocks)])
    with torch.no_grad():
        model(x)
    for handle in handles:
        handle.remove()
    prefix = 1 + reg_tokens
    assert model.num_prefix_tokens == prefix
    for b in blocks:
        block, act = store[b][0], store[f"{b}.mlp.act"][0]
        assert got["mlp"][b].shape == (3, 4 * 192) and got["patch_mean"][b].shape == (3, 192)
        torch.testing.assert_close(got["cls"][b], block[:, 0])
        torch.testing.assert_close(got["patch_mean"][b], block[:, prefix:].mean(1))
        torch.testing.assert_close(got["mlp"][b], act[:, 0])
        torch.testing.assert_close(got["mlp_mean"][b], act[:, prefix:].mean(1))
        if reg_tokens:  # the register tokens are left out of the patch mean
            assert not torch.allclose(got["patch_mean"][b], block[:, 1:].mean(1), atol=1e-4)


def test_masked_timm_vit_means_over_the_kept_patches():
    spec = resolve_model_spec("m", {**TIMM_VIT, "units": ALL_VIT_KINDS, "mask_ratio": 0.75})
    model = load_model(spec)
    store, handles = _hooked(model, ["blocks.1", "blocks.1.mlp.act"])
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    got = ActivationExtractor(model, spec).extract(x, torch.tensor([4, 7]))
    for handle in handles:
        handle.remove()
    block, act = store["blocks.1"][0], store["blocks.1.mlp.act"][0]
    assert block.shape[1] == 1 + 16 // 4  # CLS + the 4 kept patches of 16
    torch.testing.assert_close(got["patch_mean"]["blocks.1"], block[:, 1:].mean(1))
    torch.testing.assert_close(got["mlp_mean"]["blocks.1"], act[:, 1:].mean(1))


def test_hf_vit_mlp_units_and_a_cnn_without_them():
    spec = resolve_model_spec("m", {**HF_VIT, "units": ["mlp"]})
    model = load_model(spec)
    x = torch.randn(2, 3, 32, 32)
    got = ActivationExtractor(model, spec).extract(x)
    assert set(got) == {"cls", "mlp"}
    widths = [v.shape[1] for v in got["mlp"].values()]
    assert widths == [HF_VIT["hf_config"]["intermediate_size"]] * len(widths)
    cnn = resolve_model_spec("c", TIMM_CNN)
    with pytest.raises(ConfigError, match=r"models\.c\.units: 'mlp' cannot be extracted"):
        ActivationExtractor(load_model(cnn), cnn, kinds=["spatial_mean", "mlp"])


# -- files -----------------------------------------------------------------------------------
def _activations(path):
    with xr.open_dataset(path) as ds:
        return ds["activations"].values, dict(ds.attrs), list(ds["n_units"].values)


def test_one_dump_writes_a_file_per_kind_and_cls_is_unchanged(tmp_path, probe_csv):
    options = {"dtype": "float32", "batch_size": 5, "shard_size": 4, "device": "cpu"}
    plain = resolve_model_spec("m", TIMM_VIT)
    kinds = resolve_model_spec("m", {**TIMM_VIT, "units": ["cls", "mlp", "patch_mean"]})
    alone = dump_activations(plain, probe_csv, None, tmp_path / "alone" / "m.nc", **options)
    out = tmp_path / "kinds" / "m.nc"
    assert dump_activations(kinds, probe_csv, None, out, **options) == out
    for kind, width in (("patch_mean", 192), ("mlp", 768)):
        values, attrs, n_units = _activations(kind_path(out, kind, "cls"))
        assert kind_path(out, kind, "cls").name == f"m.{kind}.nc"
        assert values.shape == (2, width, 12) and n_units == [width, width]
        assert attrs["units"] == kind and '"kind": "' + kind in attrs["provenance"]
    np.testing.assert_array_equal(_activations(out)[0], _activations(alone)[0])
    assert _activations(out)[1]["units"] == "cls"


def test_dump_resumes_each_kind_file_from_its_own_shards(tmp_path, probe_csv, monkeypatch):
    """A dump killed after some shards resumes both files; the values match a clean dump."""
    import vitconcepts.activations as activations

    options = {"dtype": "float32", "batch_size": 4, "shard_size": 4, "device": "cpu"}
    spec = resolve_model_spec("m", {**TIMM_VIT, "units": ["cls", "mlp"]})
    clean = dump_activations(spec, probe_csv, None, tmp_path / "clean" / "m.nc", **options)
    real = activations._KindWriters.mark_done
    calls = []

    def die_after_two(self, upto):
        real(self, upto)
        calls.append(upto)
        if len(calls) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(activations._KindWriters, "mark_done", die_after_two)
    out = tmp_path / "run" / "m.nc"
    with pytest.raises(KeyboardInterrupt):
        dump_activations(spec, probe_csv, None, out, **options)
    assert Path(f"{out}.partial").is_file() and Path(f"{kind_path(out, 'mlp', 'cls')}.partial")
    monkeypatch.setattr(activations._KindWriters, "mark_done", real)
    dump_activations(spec, probe_csv, None, out, **options)
    for kind in ("cls", "mlp"):
        np.testing.assert_array_equal(
            _activations(kind_path(out, kind, "cls"))[0],
            _activations(kind_path(clean, kind, "cls"))[0],
        )


# -- workflow --------------------------------------------------------------------------------
@pytest.mark.slow  # runs snakemake on the tiny config: about a minute on 2 cores
def test_snakemake_writes_every_kind_of_tiny_vit_and_keeps_its_cls_file(tmp_path):
    work = copy_workflow(tmp_path / "wf")
    config = yaml.safe_load((work / TINY_CONFIG).read_text())
    config["models"]["tiny_vit"]["units"] = ["cls", "mlp", "patch_mean"]
    (work / "kinds.yaml").write_text(yaml.safe_dump(config))
    embed = config["models"]["tiny_vit"]["model_kwargs"]["embed_dim"]

    planned = run_snakemake(work, "-n", "--configfile", "kinds.yaml", "--cores", "2")
    jobs = planned_jobs(planned.stdout + planned.stderr)
    labels = [w for rule, w in jobs if rule == "label_units"]
    assert any("kind_suffix=.mlp" in w for w in labels), labels  # in `rule all`
    assert any("kind_suffix=.patch_mean" in w for w in labels), labels
    assert [r for r, w in jobs if r == "dump_activations_patch_mean_mlp"] == [
        "dump_activations_patch_mean_mlp"
    ]
    assessed = [w for rule, w in jobs if rule == "assess_labels"]
    assert any("kind_suffix=.mlp" in w for w in assessed), assessed  # reliability per kind
    assert any("kind_suffix=.patch_mean" in w for w in assessed), assessed
    assert any(rule == "plot_unit_kinds" for rule, _ in jobs)

    acts, labs = work / "results" / "activations" / "test", work / "results" / "labels" / "test"
    targets = [f"results/labels/test/tiny_vit{s}.csv" for s in ("", ".mlp", ".patch_mean")]
    targets += ["results/reliability/test/tiny_vit.mlp.csv", "paper/figures/unit_kinds.pdf"]
    run_snakemake(work, "--configfile", "kinds.yaml", "--cores", "2", *targets, timeout=900)
    reliability = pd.read_csv(work / "results/reliability/test/tiny_vit.mlp.csv")
    assert len(reliability) == 2 * 4 * embed  # every mlp unit of both layers assessed
    assert (work / "results/reliability/test/tiny_vit.mlp_boot.nc").is_file()
    figure = pd.read_csv(work / "paper/figures/unit_kinds.csv")
    assert set(figure["kind"]) == {"cls", "patch_mean", "mlp"}
    assert set(figure["model"]) == {"tiny_vit"}  # tiny_vit_ft lists the default kind only
    widths = figure.drop_duplicates(["kind", "layer"]).groupby("kind")["n_units"].max()
    assert widths.to_dict() == {"cls": embed, "mlp": 4 * embed, "patch_mean": embed}
    for kind, width in (("mlp", 4 * embed), ("patch_mean", embed)):
        values, attrs, n_units = _activations(acts / f"tiny_vit.{kind}.nc")
        assert n_units == [width, width] and attrs["units"] == kind
        assert (labs / f"tiny_vit.{kind}.csv").is_file()
        assert (labs / f"tiny_vit.{kind}_topk.nc").is_file()
    with_kinds = _activations(acts / "tiny_vit.nc")[0]

    # the same config without the extra kinds: the CLS file is the same, value for value
    target = "results/activations/test/tiny_vit.nc"
    run_snakemake(work, "--configfile", TINY_CONFIG, "--cores", "2", target, timeout=900)
    np.testing.assert_array_equal(_activations(acts / "tiny_vit.nc")[0], with_kinds)


@pytest.mark.slow  # a dry run of the paper config: about 20 s on 2 cores
def test_paper_config_plans_the_mlp_jobs_and_published_mode_none(tmp_path):
    work = copy_workflow(tmp_path / "wf")
    planned = run_snakemake(work, "-n", "--cores", "all")
    jobs = planned_jobs(planned.stdout + planned.stderr)
    dumps = sorted(w for rule, w in jobs if rule == "dump_activations_mlp")
    assert [w.split("model=")[1].split(",")[0] for w in dumps] == ["clip", "dinov2", "mae", "vit"]
    labels = [w for rule, w in jobs if rule == "label_units" and "kind_suffix=.mlp" in w]
    assert len(labels) == 4
    assessed = [w for rule, w in jobs if rule == "assess_labels" and "kind_suffix=.mlp" in w]
    assert len(assessed) == 4  # reliability of every mlp label file
    assert [rule for rule, _ in jobs if rule == "plot_unit_kinds"] == ["plot_unit_kinds"]
    published = run_snakemake(work, "-n", "--cores", "all", "--configfile", "config/published.yaml")
    text = published.stdout + published.stderr
    assert ".mlp" not in text and "plot_unit_kinds" not in text and "assess_labels" not in text


# -- analysis and figure per kind --------------------------------------------------------------
def _labels(path, layers):
    """A label CSV: ``layers`` is a list of (descriptions, similarities) per layer."""
    from vitconcepts.formats import write_labels

    rows = [
        (f"blocks.{li}", u, desc, sim, "[0 1]")
        for li, (descs, sims) in enumerate(layers)
        for u, (desc, sim) in enumerate(zip(descs, sims, strict=True))
    ]
    frame = pd.DataFrame(rows, columns=["layer", "unit", "description", "similarity", "images"])
    return write_labels(frame, path)


def _kind_inputs(tmp_path):
    categories = tmp_path / "categories.csv"
    categories.write_text(
        "concept,category,source\nred,colors,lexicon\nblue,colors,lexicon\n"
        "car,objects and machines,wordnet\ndog,natural elements and organisms,wordnet\n"
    )
    cls = _labels(
        tmp_path / "m.csv",
        [
            (["red", "red", "blue", "car"], [1, 2, 3, 4]),
            (["car", "dog", "car", "dog"], [4, 3, 2, 1]),
        ],
    )
    mlp = _labels(
        tmp_path / "m.mlp.csv",
        [(["red", "blue", "car", "dog"] * 2, range(8)), (["car"] * 8, range(8))],
    )
    return {"m": {"cls": cls, "mlp": mlp}}, categories


def test_unit_kind_measures_use_the_paper_definitions_per_kind(tmp_path):
    from vitconcepts.analysis import category_shares, concepts_per_layer, unit_kind_measures

    labels, categories = _kind_inputs(tmp_path)
    table = unit_kind_measures(labels, categories)
    counts = table.drop_duplicates(["model", "kind", "layer"]).set_index(["kind", "layer"])
    # cls layer 0: above the median 2.5 are blue (3) and car (4): 2 distinct of 2 units
    assert counts.loc[("cls", 0), ["n_units", "n_above_median", "n_concepts"]].tolist() == [4, 2, 2]
    # mlp layer 0: the 4 units above 3.5 are car, dog, red, blue: 4 distinct; layer 1: car only
    assert counts.loc[("mlp", 0), "n_concepts"] == 4 and counts.loc[("mlp", 1), "n_concepts"] == 1
    # the same numbers as the paper's functions on each file alone
    for kind, csv in labels["m"].items():
        alone = concepts_per_layer({"m": csv})["n_concepts"].tolist()
        assert counts.xs(kind)["n_concepts"].tolist() == alone
        shares = category_shares({"m": csv}, categories)
        mine = table[table["kind"] == kind][["layer", "category", "share"]]
        np.testing.assert_allclose(mine["share"], shares["share"])
    colors = table[(table.kind == "mlp") & (table.layer == 0) & (table.category == "colors")]
    assert colors["share"].item() == 0.5  # red, blue of red, blue, car, dog above the mean


def test_unit_kinds_figure_writes_pdf_png_and_its_source_csv(tmp_path):
    from vitconcepts.figures import plot_unit_kinds

    labels, categories = _kind_inputs(tmp_path)
    out = tmp_path / "fig" / "unit_kinds.pdf"
    with pytest.warns(UserWarning, match="absent"):
        plot_unit_kinds(labels, categories, ["m", "absent"], out)
    assert out.is_file() and out.with_suffix(".png").is_file()
    source = pd.read_csv(out.with_suffix(".csv"))
    assert set(source["kind"]) == {"cls", "mlp"} and set(source["model"]) == {"m"}
    row = source[(source.kind == "mlp") & (source.layer == 1)].iloc[0]
    assert row["concepts_per_unit"] == 1 / 4  # 1 distinct label over the 4 units above median
