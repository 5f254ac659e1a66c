"""Config checks: schema defaults and the cross-key checks that stop a bad config early."""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import pytest
import yaml

import vitconcepts.errors
from vitconcepts.preflight import check_model_layers

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "rules"))  # the workflow's parse-time helpers (stdlib only)
from plan_config import (  # noqa: E402
    ConfigError,
    analysed_controls,
    analysed_models,
    check_clip_models,
    check_config,
    finetuned_pairs,
    finetuning_conditions,
    labelled_models,
)

from vitconcepts.config import random_clip_scorer  # noqa: E402


def check_layers(config: dict) -> None:
    """What each download_model job checks when it starts, for every model."""
    for key in config["models"]:
        check_model_layers(key, config["models"])


@pytest.fixture()
def paper_config() -> dict:
    return yaml.safe_load((ROOT / "config.yaml").read_text())


def test_paper_config_passes(paper_config):
    check_config(paper_config)
    assert analysed_models(paper_config)[:5] == ["vit", "dinov2", "clip", "mae", "resnet"]
    assert len(paper_config["models"]) == 13 + 5  # the paper models and 5 random-init controls
    assert len(analysed_models(paper_config)) == 13


def test_paper_config_validates_against_schema_and_fills_defaults(paper_config):
    from snakemake.utils import validate

    config = copy.deepcopy(paper_config)
    validate(config, str(ROOT / "config.schema.yaml"))
    assert config["models"]["vit"]["preprocessing"] == "paper"
    assert config["models"]["mae"]["mask_ratio"] == 0.75  # the authors' pre-training model
    assert config["models"]["vit"]["mask_ratio"] is None  # schema default: the checkpoint's
    assert config["dump"]["dtype"] == "float32"
    del config["dump"]["dtype"]
    validate(config, str(ROOT / "config.schema.yaml"))
    assert config["dump"]["dtype"] == "float32"  # the default is the authors' precision too
    assert config["labeling"]["params"]["top_k"] == 100


def test_unknown_model_source_names_key_and_fix(paper_config):
    paper_config["models"]["vit"]["source"] = "keras"
    with pytest.raises(ConfigError) as info:
        check_config(paper_config)
    message = str(info.value)
    assert "models.vit.source" in message and "'keras'" in message
    assert "timm" in message and "transformers" in message
    assert "\n" not in message


def test_unknown_probe_key(paper_config):
    paper_config["probe"] = "imagenet"
    with pytest.raises(ConfigError, match="`probe`.*imagenet_broden"):
        check_config(paper_config)


def test_role_naming_missing_model(paper_config):
    paper_config["analysis"]["vits"] = ["vit", "deit"]
    with pytest.raises(ConfigError, match=r"analysis\.vits.*'deit'"):
        check_config(paper_config)


def test_finetuned_from_must_exist(paper_config):
    paper_config["models"]["vit_cub"]["finetuned_from"] = "vit_base"
    with pytest.raises(ConfigError, match=r"models\.vit_cub\.finetuned_from"):
        check_config(paper_config)


def test_labels_concept_set_needs_published_labels(paper_config):
    paper_config["concept_sets"]["from_labels"] = {"kind": "labels"}
    paper_config["concept_set"] = "from_labels"
    with pytest.raises(ConfigError, match="labels_source"):
        check_config(paper_config)
    paper_config["labels_source"] = "published"
    check_config(paper_config)


def test_published_models_and_finetuned_pairs(paper_config):
    paper_config["labels_source"] = "published"
    models = analysed_models(paper_config)
    assert "resnet_cub" not in models  # the authors published no labels for it
    pairs = finetuned_pairs(paper_config)
    assert pairs["vit_cub"] == ("vit", "cub")
    assert pairs["resnet_bloodmnist"] == ("resnet", "bloodmnist")
    assert "resnet_cub" not in pairs


def test_published_labels_folder_must_exist(paper_config, tmp_path):
    paper_config["published_labels"] = str(tmp_path / "nowhere")
    with pytest.raises(ConfigError, match="published_labels"):
        check_config(paper_config)


def test_wrong_layer_name_is_caught_before_the_download(paper_config):
    paper_config["models"]["resnet"]["layers"] = ["conv1", "layer5"]
    with pytest.raises(vitconcepts.errors.ConfigError) as info:
        check_layers(paper_config)
    assert "models.resnet.layers" in str(info.value) and "'layer5'" in str(info.value)


def test_listed_layers_that_exist_pass(paper_config):
    listed = ["vit.encoder.layer[0]", "vit.encoder.layer[11]"]
    paper_config["models"]["vit"]["layers"] = list(listed)
    assert check_layers(paper_config) is None  # no error for names the network has
    assert paper_config["models"]["vit"]["layers"] == listed  # kept exactly as listed
    paper_config["models"]["vit"]["layers"] = ["vit.encoder.layer[12]"]
    with pytest.raises(vitconcepts.errors.ConfigError, match=r"models\.vit\.layers"):
        check_layers(paper_config)


def test_paper_transformers_layers_are_checked_offline(paper_config, monkeypatch):
    """The authors' layer names of hub checkpoints are checked on a skeleton, no network."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    models = paper_config["models"]
    models["clip"]["layers"] = [f"vision_model.encoder.layers[{i}]" for i in range(12)]
    models["dinov2"]["layers"] = ["dinov2.encoder.layer[0]", "dinov2.encoder.layer[11]"]
    models["mae"]["layers"] = ["vit.encoder.layer[0]", "vit.encoder.layer[11]"]
    check_layers(paper_config)
    # a finetuned copy is checked against its base model's architecture
    models["clip_cub"]["layers"] = ["vision_model.encoder.layers[12]"]
    with pytest.raises(vitconcepts.errors.ConfigError) as info:
        check_layers(paper_config)
    assert "models.clip_cub.layers" in str(info.value)
    assert "'vision_model.encoder.layers.12'" in str(info.value)


def test_concept_set_is_the_authors_20k(paper_config):
    """The configured 20k list (CLIP-Dissect's URL) is byte for byte the authors' data/20k.txt."""
    reference = ROOT.parent / "shared" / "paper-reference" / "20k.txt"
    if not reference.exists():
        pytest.skip(f"the authors' 20k.txt is not at {reference}")
    import hashlib

    digest = hashlib.sha256(reference.read_bytes()).hexdigest()
    assert paper_config["concept_sets"]["20k"]["sha256"] == digest


def test_clip_scorer_must_state_its_weights(paper_config):
    del paper_config["clip_models"]["clip_vit_b16"]["pretrained"]
    with pytest.raises(ConfigError, match=r"clip_models\.clip_vit_b16\.pretrained` is missing"):
        check_config(paper_config)
    paper_config["clip_models"]["clip_vit_b16"]["pretrained"] = None
    with pytest.raises(ConfigError, match=r"clip_models\.clip_vit_b16\.pretrained` is None"):
        check_clip_models(paper_config)
    paper_config["clip_models"]["clip_vit_b16"]["pretrained"] = False
    check_clip_models(paper_config)


def test_random_clip_scorer_only_for_explicit_false_and_computed_labels(paper_config):
    assert not random_clip_scorer(paper_config)  # pretrained: openai
    paper_config["clip_models"]["clip_vit_b16"]["pretrained"] = False
    assert random_clip_scorer(paper_config)
    paper_config["labels_source"] = "published"  # the scorer is not used
    assert not random_clip_scorer(paper_config)
    tiny = yaml.safe_load((ROOT / ".test" / "config.yaml").read_text())
    assert tiny["clip_models"]["tiny_clip"]["pretrained"] is False
    assert random_clip_scorer(tiny)


def test_finetuning_conditions(paper_config):
    assert finetuning_conditions(paper_config) == {
        "pretrained": ["vit", "dinov2", "clip"],
        "cub": ["vit_cub", "dinov2_cub", "clip_cub"],
        "bloodmnist": ["vit_bloodmnist", "dinov2_bloodmnist", "clip_bloodmnist"],
    }
    # schema default []: the models of analysis.vits that have finetuned copies
    paper_config["analysis"]["finetuning_mean"] = []
    assert finetuning_conditions(paper_config)["pretrained"] == ["vit", "dinov2", "clip"]
    paper_config["analysis"]["finetuning_mean"] = ["vit", "resnet"]
    assert finetuning_conditions(paper_config)["cub"] == ["vit_cub", "resnet_cub"]
    tiny = yaml.safe_load((ROOT / ".test" / "config.yaml").read_text())
    assert finetuning_conditions(tiny) == {"pretrained": ["tiny_vit"], "cub": ["tiny_vit_ft"]}
    paper_config["analysis"]["finetuning_mean"] = ["vit", "deit"]
    with pytest.raises(ConfigError, match="analysis.finetuning_mean"):
        check_config(paper_config)


def test_workflow_helpers_import_only_the_standard_library_and_yaml():
    """rules/plan_*.py run when Snakemake parses the workflow: nothing but Snakemake's own."""
    import ast

    allowed = set(sys.stdlib_module_names) | {"yaml", "plan_config", "plan_inputs"}
    for path in sorted((ROOT / "rules").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""] if node.level == 0 else ["(relative)"]
            for name in names:
                assert name.split(".")[0] in allowed, f"{path.name} imports {name}"


def test_library_config_imports_no_stage():
    import ast

    tree = ast.parse((ROOT / "src/vitconcepts/config.py").read_text())
    imported = [
        node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
    ] + [a.name for node in ast.walk(tree) if isinstance(node, ast.Import) for a in node.names]
    stages = ("labeling", "models", "complexity", "probe")
    assert not [m for m in imported if any(m.endswith(s) or f".{s}." in m for s in stages)]


PAPER_CONTROLS = {
    "vit_random": "vit",
    "dinov2_random": "dinov2",
    "clip_random": "clip",
    "mae_random": "mae",
    "resnet_random": "resnet",
}


def test_paper_controls_are_labelled_but_not_analysed(paper_config):
    assert analysed_controls(paper_config) == PAPER_CONTROLS
    analysed, labelled = analysed_models(paper_config), labelled_models(paper_config)
    assert not set(PAPER_CONTROLS) & set(analysed)
    assert labelled == analysed + list(PAPER_CONTROLS)
    for control, base in PAPER_CONTROLS.items():
        entry, model = paper_config["models"][control], paper_config["models"][base]
        assert entry["random_init"] is True
        assert (entry["source"], entry["weights"], entry["arch"]) == (
            model["source"],
            model["weights"],
            model["arch"],
        )
    published = dict(paper_config, labels_source="published")
    assert analysed_controls(published) == {}
    assert not set(PAPER_CONTROLS) & set(labelled_models(published))


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"control_of": "nope"}, "not another key of `models`"),
        ({"random_init": False}, "add `random_init: true`"),
        ({"seed": 0}, "the seed of"),
        ({"control_of": "vit_random"}, "not another key"),
    ],
)
def test_bad_control_entries_name_key_and_fix(paper_config, change, words):
    paper_config["models"]["vit_random"].update(change)
    with pytest.raises(ConfigError, match="models.vit_random") as error:
        check_config(paper_config)
    assert words in str(error.value)


def test_control_of_a_control_is_refused(paper_config):
    paper_config["models"]["dinov2_random"]["control_of"] = "vit_random"
    with pytest.raises(ConfigError, match="itself a control"):
        check_config(paper_config)


def test_random_init_builds_a_paper_architecture_offline(paper_config, monkeypatch):
    from vitconcepts.models import load_model, resolve_model_spec
    from vitconcepts.paper_architectures import check_paper_model

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    spec = resolve_model_spec("mae_random", paper_config["models"]["mae_random"])
    assert spec.pretrained is False and spec.hf_config["model_type"] == "vit_mae"
    model = load_model(spec)  # no manifest, no download
    assert check_paper_model(spec, model) == []
    again = load_model(spec)
    for name in ("cls_token", "position_embeddings"):  # the sin-cos table from_config skips
        first = getattr(model.vit.embeddings, name)
        assert first.abs().sum() > 0, name
        assert bool((first == getattr(again.vit.embeddings, name)).all()), name  # seeded


def test_random_init_of_an_unknown_checkpoint_asks_for_hf_config():
    from vitconcepts.models import resolve_model_spec

    entry = {"source": "transformers", "weights": "me/my-vit", "arch": "vit"}
    with pytest.raises(vitconcepts.errors.ConfigError, match="hf_config"):
        resolve_model_spec("mine_random", {**entry, "random_init": True})


def test_random_init_downloads_nothing(tmp_path, monkeypatch):
    from vitconcepts import download

    def refuse(*args, **kwargs):
        raise AssertionError("a random-init control must not download")

    monkeypatch.setattr(download, "_download_snapshot", refuse)
    entry = {"source": "transformers", "weights": "google/vit-base-patch16-224-in21k"}
    manifest = download.download_model("vit_random", {**entry, "random_init": True}, tmp_path)
    assert yaml.safe_load(manifest.read_text())["weights_file"] is None


@pytest.mark.parametrize(
    "role", [("cnn",), ("vits",), ("finetuning_mean",), ("example_units", "model")]
)
def test_a_control_cannot_take_a_paper_role(paper_config, role):
    control = "resnet_random" if role == ("cnn",) else "vit_random"
    base = paper_config["models"][control]["control_of"]
    analysis = paper_config["analysis"]
    if len(role) == 2:
        analysis[role[0]][role[1]] = control
    elif role[0] == "cnn":
        analysis["cnn"] = control
    else:
        analysis[role[0]] = [control if m == base else m for m in analysis[role[0]]]
    with pytest.raises(ConfigError, match=rf"random-init control of '{base}'.*name the trained"):
        check_config(paper_config)
