"""Parse-time checks of a whole config and the lists the workflow derives from it.

Standard library (and PyYAML, which Snakemake installs) only: the workflow definition needs
nothing but Snakemake. rules/common.smk runs :func:`check_config` right after
``validate(config, schema)``, so a bad config stops before any job, with one paragraph naming
the key and the fix. Checks that need the library (layer names on a weightless skeleton,
`labeling.params` against the method, the learned complexity scorer) run at the start of the
rule scripts that use them (``vitconcepts.preflight``).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

MODEL_SOURCES = ("timm", "transformers")
#: unit kinds per architecture, the paper's (default, always written) first: the same table
#: as vitconcepts.models.UNIT_KINDS (tests/test_unit_kinds.py checks they agree)
UNIT_KINDS = {"vit": ("cls", "patch_mean", "mlp", "mlp_mean"), "cnn": ("spatial_mean",)}
SCHEMA_PATH = Path(__file__).resolve().parents[1] / "config.schema.yaml"
# per-kind keys: a property of a `kind`-selected entry (probe parts, concept sets) may name
# the kinds it applies to with this schema annotation (ignored by JSON schema validation)
KINDS_ANNOTATION = "x-kinds"


class PlanError(Exception):
    """A config or data problem found while the workflow is parsed: one paragraph with a fix
    (worded as ``vitconcepts.errors`` words the library's errors)."""

    def __init__(self, what: str, fix: str = "") -> None:
        message = " ".join(what.split())
        fix = " ".join(fix.split())
        super().__init__(f"{message} Fix: {fix}" if fix else message)


class ConfigError(PlanError):
    """A config key is missing, unknown or inconsistent."""


class InputDataError(PlanError):
    """A local data path (ImageNet val, an image folder, a concept file) is unusable."""


# -- unknown keys ------------------------------------------------------------------------------
def load_schema(schema: str | Path | Mapping[str, Any] | None = None) -> dict[str, Any] | None:
    """The config schema (a mapping, a path, or the checkout's ``config.schema.yaml``)."""
    if isinstance(schema, Mapping):
        return dict(schema)
    path = Path(schema) if schema is not None else SCHEMA_PATH
    if not path.is_file():
        return None
    import yaml

    return yaml.safe_load(path.read_text())


def _dotted(path: tuple[str, ...]) -> str:
    out = ""
    for part in path:
        out += part if part.startswith("[") or not out else f".{part}"
    return out


def _unknown_keys(
    value: Any, schema: Mapping[str, Any], path: tuple[str, ...]
) -> Iterator[tuple[str, str, list[str], str]]:
    """(key path, key, known keys, note) for every key ``schema`` does not define."""
    if isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        for i, item in enumerate(value):
            yield from _unknown_keys(item, schema["items"], (*path, f"[{i}]"))
        return
    if not isinstance(value, Mapping):
        return
    props: Mapping[str, Any] = schema.get("properties") or {}
    extra = schema.get("additionalProperties")
    if isinstance(extra, Mapping):  # a map of named entries: any key, each entry checked
        for key, item in value.items():
            yield from _unknown_keys(item, props.get(key, extra), (*path, str(key)))
        return
    if not props or extra is True:  # free-form (model_kwargs, hf_config, ...)
        return
    kind = value.get("kind") if "kind" in props else None
    for key, item in value.items():
        key = str(key)
        if key not in props:
            yield _dotted((*path, key)), key, sorted(props), ""
            continue
        kinds = props[key].get(KINDS_ANNOTATION)
        if kinds and kind is not None and kind not in kinds and item != props[key].get("default"):
            allowed = sorted(k for k, p in props.items() if kind in p.get(KINDS_ANNOTATION, [kind]))
            yield (
                _dotted((*path, key)),
                key,
                allowed,
                f"it applies to kind {' / '.join(kinds)} only, and this entry has kind {kind}",
            )
            continue
        yield from _unknown_keys(item, props[key], (*path, key))


def _suggest(key: str, known: list[str]) -> str:
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    if not close and len(key) >= 4:  # e.g. gpu.embed_images -> embed
        close = [k for k in known if len(k) >= 4 and (k in key or key in k)][:1]
    return close[0] if close else ""


def check_keys(config: Mapping[str, Any], schema: str | Path | Mapping | None = None) -> None:
    """Every key of ``config`` must be defined in the schema (at any level).

    Known keys are read off ``config.schema.yaml`` (``properties`` of each object; maps of
    named entries use ``additionalProperties``), so a new key only needs its schema entry.
    One ConfigError lists every unknown key with a did-you-mean for near misses.
    """
    schema_dict = load_schema(schema)
    if schema_dict is None:
        return
    problems = list(_unknown_keys(config, schema_dict, ()))
    if not problems:
        return
    lines, fixes = [], []
    for path, key, known, note in problems:
        guess = _suggest(key, known)
        where = f"`{path}`"
        if note:
            lines.append(f"{where} is not used: {note}.")
        else:
            level = f"`{path.rsplit('.', 1)[0]}`" if "." in path else "the top level"
            guessed = f" (did you mean `{guess}`?)" if guess else ""
            lines.append(
                f"{where} is not a config key{guessed}; keys known at {level}: {', '.join(known)}."
            )
        fixes.append(f"rename `{key}` to `{guess}`" if guess and not note else f"remove `{key}`")
    raise ConfigError(
        f"{len(problems)} unknown config key(s), which would be silently ignored: "
        + " ".join(lines),
        "; ".join(fixes)
        + " in your config file (the YAML given with --configfile, or config.yaml); every "
        "key, its default and its meaning is listed in config.schema.yaml.",
    )


# -- unit kinds --------------------------------------------------------------------------------
def unit_kinds(key: str, entry: Mapping[str, Any]) -> tuple[str, ...]:
    """The unit kinds of model ``key``: its `units` in canonical order, the default first."""
    arch = entry.get("arch")
    if arch not in UNIT_KINDS:  # the schema (and the library) reject the arch itself
        return ()
    value = entry.get("units")
    if value is None:
        listed: list[str] = []
    elif isinstance(value, str):
        listed = [part.strip() for part in value.split(",") if part.strip()]
    else:
        listed = [str(part).strip() for part in value]
    allowed = UNIT_KINDS[arch]
    bad = [kind for kind in listed if kind not in allowed]
    if bad:
        example = "[cls, mlp]" if arch == "vit" else "[spatial_mean]"
        raise ConfigError(
            f"Config key `models.{key}.units` lists {', '.join(map(repr, bad))}, which "
            f"{'is not a unit kind' if len(bad) == 1 else 'are not unit kinds'} of a {arch} "
            f"(`models.{key}.arch`); a {arch} has {', '.join(allowed)}.",
            f"set `models.{key}.units` to a list of those (e.g. {example}), or remove it for "
            f"the paper's [{allowed[0]}].",
        )
    return tuple(kind for kind in allowed if kind == allowed[0] or kind in listed)


def extra_unit_kinds(key: str, entry: Mapping[str, Any]) -> tuple[str, ...]:
    """The kinds of model ``key`` beyond its architecture's default (files ``{model}.K.*``)."""
    return unit_kinds(key, entry)[1:]


def dump_rule_name(extra: tuple[str, ...]) -> str:
    """The rule that dumps a model with these extra kinds: ``dump_activations`` (none) or
    e.g. ``dump_activations_mlp``. One rule per kind set, since a rule has one output list."""
    return "_".join(("dump_activations", *extra))


def dump_kind_sets(models: Mapping[str, Mapping[str, Any]]) -> dict[tuple[str, ...], list[str]]:
    """``{extra kinds: models}`` over ``models``; ``()`` (plain ``dump_activations``) always."""
    sets: dict[tuple[str, ...], list[str]] = {(): []}
    for key, entry in models.items():
        sets.setdefault(extra_unit_kinds(key, entry), []).append(key)
    return sets


# -- cross-key checks --------------------------------------------------------------------------
def _require_key(config: dict, section: str, key_name: str) -> None:
    key = config.get(key_name)
    choices = sorted(config.get(section, {}))
    if key not in config.get(section, {}):
        raise ConfigError(
            f"Config key `{key_name}` is {key!r}, which is not a key of `{section}` "
            f"(defined: {', '.join(choices) or 'none'}).",
            f"set `{key_name}` to one of those, or add an entry `{section}.{key}`.",
        )


def check_models(models: dict[str, dict[str, Any]]) -> None:
    """Check every model entry: known source, known parent for finetuned copies."""
    for key, entry in models.items():
        source = entry.get("source")
        if source not in MODEL_SOURCES:
            raise ConfigError(
                f"Config key `models.{key}.source` is {source!r}, an unknown model source.",
                f"use one of {', '.join(MODEL_SOURCES)} (timm for weights timm has, "
                "transformers for checkpoints only on the Hugging Face hub).",
            )
        parent = entry.get("finetuned_from")
        if parent is not None and parent not in models:
            raise ConfigError(
                f"Config key `models.{key}.finetuned_from` names {parent!r}, which is not a "
                "key of `models`.",
                f"use one of {', '.join(sorted(models))} or remove the key.",
            )
        unit_kinds(key, entry)
        if not key.replace("_", "").replace("-", "").isalnum():
            raise ConfigError(
                f"Model key {key!r} under `models` contains characters other than letters, "
                "digits, '_' and '-'; it is used in file names.",
                "rename the model key.",
            )


def check_controls(models: dict[str, dict[str, Any]]) -> None:
    """A `control_of` entry is a random-init copy of another, trained, model entry."""
    for key, entry in models.items():
        base = entry.get("control_of")
        if base is None:
            continue
        if base not in models or base == key:
            raise ConfigError(
                f"Config key `models.{key}.control_of` names {base!r}, which is not another "
                "key of `models`.",
                f"use one of {', '.join(sorted(m for m in models if m != key))}.",
            )
        if not entry.get("random_init", False):
            raise ConfigError(
                f"Config key `models.{key}.control_of` is set but `models.{key}.random_init` "
                "is not true: a control is the same architecture with random weights.",
                f"add `random_init: true` to `models.{key}`.",
            )
        seed = entry.get("seed", 0)
        same = [m for m, e in models.items() if m != key and e.get("seed", 0) == seed]
        if same:
            raise ConfigError(
                f"Config key `models.{key}.seed` is {seed}, the seed of {', '.join(same)}: a "
                "random-init control draws its weights from a seed no other entry uses.",
                f"set `models.{key}.seed` to an unused number, e.g. "
                f"{1 + max(e.get('seed', 0) for e in models.values())}.",
            )
        if models[base].get("control_of") is not None:
            raise ConfigError(
                f"Config key `models.{key}.control_of` names {base!r}, itself a control.",
                "point `control_of` at the trained model.",
            )


def control_models(config: dict) -> dict[str, str]:
    """{random-init control: the model it controls}, in config order."""
    return {
        key: entry["control_of"]
        for key, entry in config["models"].items()
        if entry.get("control_of") is not None
    }


def check_roles(config: dict) -> None:
    """Check that the models named in `analysis` exist and are no random-init controls."""
    models = config["models"]
    analysis = config.get("analysis", {})
    named = [("analysis.vits", m) for m in analysis.get("vits", [])]
    named += [("analysis.finetuning_mean", m) for m in analysis.get("finetuning_mean", [])]
    if analysis.get("cnn"):
        named.append(("analysis.cnn", analysis["cnn"]))
    example = analysis.get("example_units", {}).get("model")
    if example:
        named.append(("analysis.example_units.model", example))
    for key, model in named:
        if model not in models:
            raise ConfigError(
                f"Config key `{key}` names model {model!r}, which is not a key of `models`.",
                f"use one of {', '.join(sorted(models))}.",
            )
        base = models[model].get("control_of")
        if base is not None:
            raise ConfigError(
                f"Config key `{key}` names model {model!r}, the random-init control of "
                f"{base!r} (models.{model}.control_of): controls are drawn only beside their "
                "model, in the random_control figure.",
                f"name the trained model {base!r} in `{key}` instead.",
            )


def check_clip_models(config: dict) -> None:
    """Every CLIP scorer states its weights: an open_clip tag, or `pretrained: false`.

    A missing or null `pretrained` would silently build a randomly initialised scorer whose
    labels mean nothing, so it is an error; only an explicit `false` asks for random weights
    (tests), and that choice is stamped on every output (``vitconcepts.config.random_clip_scorer``).
    """
    for key, entry in config.get("clip_models", {}).items():
        tag = entry.get("pretrained")
        if tag is False or (isinstance(tag, str) and tag.strip()):
            continue
        state = "missing" if "pretrained" not in entry else f"{tag!r}"
        raise ConfigError(
            f"Config key `clip_models.{key}.pretrained` is {state}: the CLIP scorer's weights "
            "are not stated, and a randomly initialised scorer gives meaningless labels.",
            f"set `clip_models.{key}.pretrained: openai` (the paper's weights, or another "
            "open_clip tag of its arch), or `pretrained: false` for a random scorer in tests.",
        )


def check_published(config: dict) -> None:
    """With labels_source: published, each analysed model needs a published labels entry."""
    local = config.get("published_labels", "")
    if local and not Path(local).is_dir():
        raise ConfigError(
            f"Config key `published_labels` is {local!r}, which is not a folder.",
            "point it at a folder holding the authors' files (e.g. vit.csv, "
            "words_per_category_curated.json), or leave it empty to download them.",
        )
    if config.get("labels_source") != "published":
        return
    published = config.get("published", {})
    if not published.get("labels"):
        raise ConfigError(
            "Config key `labels_source` is 'published' but `published.labels` is empty.",
            "add entries such as `published: {labels: {vit: {path: results/vit.csv}}}` to your "
            "config file, or set "
            "`labels_source: computed`.",
        )
    if not local and not published.get("base_url"):
        raise ConfigError(
            "Config key `published.base_url` is missing and `published_labels` is empty, so "
            "the authors' files can be neither downloaded nor read.",
            "set `published.base_url` or `--config published_labels=DIR`.",
        )


def check_concept_set(config: dict) -> None:
    """A concept set read off label files only makes sense for published labels."""
    key = config["concept_set"]
    if (
        config["concept_sets"][key]["kind"] == "labels"
        and config.get("labels_source") != "published"
    ):
        raise ConfigError(
            f"Config key `concept_sets.{key}.kind` is 'labels' (concepts read off the label "
            "files), but `labels_source` is 'computed': labels cannot be computed from "
            "concepts that come from the labels.",
            "use a concept set of kind url, file or wordfreq, or set `labels_source: published`.",
        )


def check_final_layer(config: dict) -> None:
    """`final_layer.models` names models of `models` and class lists of `concept_sets`."""
    checks = (config.get("final_layer") or {}).get("models") or {}
    for key, entry in checks.items():
        if key not in config["models"]:
            raise ConfigError(
                f"Config key `final_layer.models.{key}` names a model that is not a key of "
                f"`models` (defined: {', '.join(sorted(config['models']))}).",
                f"rename it to one of those, or remove `final_layer.models.{key}`.",
            )
        classes = entry.get("classes")
        if classes not in config.get("concept_sets", {}):
            raise ConfigError(
                f"Config key `final_layer.models.{key}.classes` is {classes!r}, which is not a "
                f"key of `concept_sets` (defined: {', '.join(sorted(config['concept_sets']))}).",
                "add a concept set of the model's class names, one a line in output-unit "
                "order, e.g. `concept_sets: {imagenet1k: {kind: url, url: ..., sha256: ...}}` "
                f"as in config.yaml, and set `final_layer.models.{key}.classes` to its key.",
            )


def final_layer_models(config: dict) -> dict[str, dict[str, Any]]:
    """{model: {module, classes}} of the final-layer check; none from published labels
    (no probe images to label with)."""
    if config.get("labels_source") == "published":
        return {}
    checks = (config.get("final_layer") or {}).get("models") or {}
    return {key: dict(entry) for key, entry in checks.items()}


def check_config(config: dict, schema: str | Path | Mapping | None = None) -> None:
    """Run every cross-key check; raise ConfigError with one paragraph on the first problem.

    ``schema`` (default: the checkout's ``config.schema.yaml``) defines the known keys.
    """
    check_keys(config, schema)
    _require_key(config, "probes", "probe")
    _require_key(config, "concept_sets", "concept_set")
    _require_key(config, "clip_models", "clip_model")
    check_models(config["models"])
    check_controls(config["models"])
    check_roles(config)
    check_clip_models(config)
    check_published(config)
    check_concept_set(config)
    check_final_layer(config)
    check_linear_explanations(config)


def check_linear_explanations(config: dict) -> None:
    """``linear_explanations.split``: three fractions summing to 1."""
    split = (config.get("linear_explanations") or {}).get("split")
    if split is not None and abs(sum(float(f) for f in split) - 1.0) > 1e-6:
        raise ConfigError(
            f"linear_explanations.split is {list(split)}, which sums to {sum(split):g}; the "
            "train / validation / test fractions of the probe must sum to 1.",
            "set it to, for example, `linear_explanations: {split: [0.6, 0.2, 0.2]}`.",
        )


def linear_models(config: dict) -> list[str]:
    """Models whose units Linear Explanations explains: every labelled model (controls
    included) when ``linear_explanations.enabled``; none from published labels, which come
    without activations."""
    if config.get("labels_source") == "published":
        return []
    if not (config.get("linear_explanations") or {}).get("enabled", True):
        return []
    return labelled_models(config)


# -- model roles -----------------------------------------------------------------------------
def analysed_models(config: dict) -> list[str]:
    """Models whose labels enter the analysis, in config order.

    Computed labels: every model but the random-init controls (``control_of``), which stay
    out of the paper's figures and of agreement. Published labels: the models the authors
    published.
    """
    controls = control_models(config)
    models = [m for m in config["models"] if m not in controls]
    if config.get("labels_source") == "published":
        published = config.get("published", {}).get("labels", {})
        models = [m for m in models if m in published]
    return models


def labelled_models(config: dict) -> list[str]:
    """Every model whose labels are computed: the analysed ones, then their random-init
    controls (labelled, assessed and drawn beside their model). Published labels: the
    analysed models (the authors published no controls)."""
    if config.get("labels_source") == "published":
        return analysed_models(config)
    analysed = analysed_models(config)
    return analysed + [c for c, base in control_models(config).items() if base in analysed]


def analysed_controls(config: dict) -> dict[str, str]:
    """{control: model} of the controls whose labels are computed (empty when published)."""
    labelled = set(labelled_models(config))
    return {c: base for c, base in control_models(config).items() if c in labelled}


def finetuned_pairs(config: dict) -> dict[str, tuple[str, str]]:
    """{finetuned model: (base model, dataset)} among the analysed models."""
    analysed = set(analysed_models(config))
    pairs = {}
    for key in analysed_models(config):
        entry = config["models"][key]
        base = entry.get("finetuned_from")
        if base and base in analysed:
            pairs[key] = (base, entry.get("dataset") or "finetuned")
    return pairs


def finetuning_conditions(config: dict) -> dict[str, list[str]]:
    """The models averaged per condition in the paper's Figs. 7 and 8.

    ``{"pretrained": bases, dataset: [finetuned copy of each base], ...}``, bases from
    ``analysis.finetuning_mean`` (the paper: vit, dinov2, clip), or when that list is empty
    the models of ``analysis.vits`` that have finetuned copies; datasets in config order,
    each list in base order (a base without a copy on a dataset is left out of that mean).
    Empty when no analysed model has finetuned copies.
    """
    pairs = finetuned_pairs(config)
    analysis = config.get("analysis", {})
    with_copies = {base for base, _ in pairs.values()}
    bases = list(analysis.get("finetuning_mean") or [])
    if not bases:
        bases = [m for m in analysis.get("vits", []) if m in with_copies]
    bases = [m for m in bases if m in analysed_models(config)]
    if not bases or not pairs:
        return {}
    copies: dict[str, dict[str, str]] = {}
    for model, (base, dataset) in pairs.items():
        if base in bases:
            copies.setdefault(dataset, {})[base] = model
    conditions = {"pretrained": bases}
    for dataset, by_base in copies.items():
        conditions[dataset] = [by_base[b] for b in bases if b in by_base]
    return conditions if len(conditions) > 1 else {}


#: Probe part kinds holding a Broden folder (``vitconcepts.ground_truth.BRODEN_KINDS``).
BRODEN_KINDS = ("broden", "synthetic_broden")


def has_broden_part(config: dict, probe: str) -> bool:
    """Whether probe ``probe`` has a Broden part, whose annotations the ground-truth rules read."""
    parts = config["probes"][probe].get("parts", [])
    return any(part.get("kind") in BRODEN_KINDS for part in parts)
