# Shared wiring: config checks, wildcard constraints, input functions and target lists.
# Parsing needs nothing but Snakemake: the helpers below (rules/plan_*.py) use the standard
# library only; everything that needs numpy, torch or the library runs in the rule scripts.

import sys
from pathlib import Path

RULES = str(Path(workflow.basedir) / "rules")
if RULES not in sys.path:
    sys.path.insert(0, RULES)

from plan_config import (
    analysed_controls,
    analysed_models,
    check_config,
    control_models,
    dump_kind_sets,
    dump_rule_name,
    extra_unit_kinds,
    finetuned_pairs,
    finetuning_conditions,
    labelled_models,
    linear_models,
    unit_kinds,
)
from plan_inputs import (
    data_path_problem,
    files_fingerprint,
    parts_fingerprint,
    pixel_cache_plan,
    recipe_key,
)
from plan_inputs import probe_parts as _probe_parts

check_config(config, Path(workflow.basedir) / "config.schema.yaml")

# Local data (ImageNet val, image folders, concept files): a dry run plans without it (with a
# warning); a real run stops before any job starts (onstart in rules/probe.smk).
if workflow.is_main_process and (problem := data_path_problem(config)):
    print(f"Warning: {problem} (A dry run plans anyway.)", file=sys.stderr)

PROBE = config["probe"]
CONCEPTS = config["concept_set"]
CLIP = config["clip_model"]
ANALYSED = analysed_models(config)
# every model whose labels are computed: ANALYSED, then the random-init controls
# ({control: model}), which stay out of the paper's figures and of agreement
LABELLED = labelled_models(config)
CONTROLS = analysed_controls(config)
FINETUNED = finetuned_pairs(config)
FINETUNING_CONDITIONS = finetuning_conditions(config)
ROLES = config["analysis"]
PUBLISHED = config["labels_source"] == "published"
EXAMPLE_MODEL = ROLES["example_units"]["model"] or (ANALYSED[0] if ANALYSED else None)
# decode once: {model: recipe} of the passes that read a pixel cache (decided from the config;
# cache_pixels checks the free disk where it runs)
PIXEL_PLAN = pixel_cache_plan(
    config["pixel_cache"],
    {model: config["models"][model] for model in ([] if PUBLISHED else LABELLED)},
)
RECIPES = {recipe_key(recipe): recipe for recipe in PIXEL_PLAN.values()}


wildcard_constraints:
    model="|".join(config["models"]),
    probe="|".join(config["probes"]),
    concepts="|".join(config["concept_sets"]),
    clip="|".join(config["clip_models"]),


def model_entry(wildcards):
    return config["models"][wildcards.model]


def model_weights_entry(wildcards):
    """The keys of a model entry that select its weights (a layer change keeps the download)."""
    entry = model_entry(wildcards)
    keys = ("source", "weights", "pretrained", "random_init", "revision")
    return {key: entry[key] for key in keys if key in entry}


def clip_entry(wildcards):
    return config["clip_models"][wildcards.clip]


def probe_parts(wildcards):
    """The probe's parts, with the top-level `imagenet_val` path filled in."""
    return _probe_parts(config, wildcards.probe)


def probe_files(wildcards):
    """Names, sizes and mtimes of a probe's user folders: a changed folder re-indexes."""
    return parts_fingerprint(probe_parts(wildcards))


def concept_set_entry(wildcards):
    return config["concept_sets"][wildcards.concepts]


def concept_file(wildcards):
    """Size and mtime of a `kind: file` concept set: an edited file rebuilds the set."""
    entry = concept_set_entry(wildcards)
    if entry["kind"] != "file" or not entry.get("path"):
        return ""
    return files_fingerprint([str(Path(entry["path"]).expanduser())])


def stop_on_missing_data():
    """Before the first job: the local data of the probes and concept sets to build."""
    jobs = list(workflow.dag.needrun_jobs())
    probes = sorted({j.wildcards.probe for j in jobs if j.rule.name == "prepare_probe"})
    sets = sorted({j.wildcards.concepts for j in jobs if j.rule.name == "concept_set"})
    problem = data_path_problem(config, probes, sets)
    if problem:
        raise WorkflowError(problem)


def published_entry(wildcards):
    return config["published"]["labels"][wildcards.model]


def labels_csv(model):
    """Per-unit labels of one model: computed by label_units, or the authors' published file."""
    if PUBLISHED:
        return f"resources/published/labels/{model}.csv"
    return f"results/labels/{PROBE}/{model}.csv"


def analysed_labels(wildcards=None):
    return {model: labels_csv(model) for model in ANALYSED}


def curated_map(wildcards=None):
    """The authors' curated category map, when the config asks for it."""
    if config["categories"]["curated"]:
        return "resources/published/words_per_category_curated.json"
    return []


def gpu(rule_kind):
    return config["gpu"][rule_kind]


def images_available():
    return not PUBLISHED


def agreement_models():
    """Models with both computed and published labels, compared when `agreement` is on."""
    if PUBLISHED or not config["agreement"]:
        return []
    published = config.get("published", {}).get("labels", {})
    return [model for model in ANALYSED if model in published]


def agreement_csvs(wildcards=None):
    return {
        model: f"results/agreement/{PROBE}/{model}.csv" for model in agreement_models()
    }


# --- atlas (rules/atlas.smk): a page per model ({model}.html) and per extra unit kind
# ({model}.{kind}.html), the index with its concept search --------------------------------
ATLAS = "atlas/published" if PUBLISHED else f"atlas/{PROBE}"
# Linear Explanations (rules/linear.smk): every labelled model's units, when enabled
LINEAR = linear_models(config)


def reliability_csv(model, kind=None):
    """The reliability CSV of a model's default units (``kind=None``) or of its extra unit
    kind, when the workflow produces it (assess_labels), else []: an atlas page takes it
    when there is one and otherwise shows no q/stability."""
    return kind_reliability_csv(model, kind)


def atlas_page_inputs(wildcards):
    """One model's atlas page: labels, categories, summary figure; top-k and thumbnails
    when the labels were computed here (published labels come without probe images), and
    the reliability CSV where there is one."""
    inputs = {
        "labels": labels_csv(wildcards.model),
        "categories": f"results/categories/{CONCEPTS}.csv",
    }
    # a control's summary is the figure that sets it beside its model
    name = (
        "random_control"
        if wildcards.model in CONTROLS
        else f"appendix_{wildcards.model}"
    )
    inputs["summary"] = f"paper/figures/{name}.png"
    if images_available():
        inputs["topk"] = f"results/labels/{PROBE}/{wildcards.model}_topk.nc"
        inputs["thumbs"] = f"{ATLAS}/thumbs"
    if reliability_csv(wildcards.model):
        inputs["reliability"] = reliability_csv(wildcards.model)
    if wildcards.model in ground_truth_csvs():
        inputs["ground_truth"] = ground_truth_csvs()[wildcards.model]
    if wildcards.model in LINEAR:
        inputs["linear"] = f"results/linear/{PROBE}/{wildcards.model}.csv"
    return inputs


def atlas_kind_page_inputs(wildcards):
    """The atlas page of a model's extra unit kind (computed labels only)."""
    model, kind = wildcards.model, wildcards.kind
    inputs = {
        "labels": f"results/labels/{PROBE}/{model}.{kind}.csv",
        "topk": f"results/labels/{PROBE}/{model}.{kind}_topk.nc",
        "categories": f"results/categories/{CONCEPTS}.csv",
        "thumbs": f"{ATLAS}/thumbs",
    }
    if reliability_csv(model, kind):
        inputs["reliability"] = reliability_csv(model, kind)
    if f"{model}.{kind}" in ground_truth_csvs():
        inputs["ground_truth"] = ground_truth_csvs()[f"{model}.{kind}"]
    if model in LINEAR:
        inputs["linear"] = f"results/linear/{PROBE}/{model}.{kind}.csv"
    return inputs


def atlas_page_list():
    """[(model, kind or None, labels CSV)] of every atlas page, default kinds first."""
    pages = [(model, None, labels_csv(model)) for model in LABELLED]
    if not PUBLISHED:
        pages += [
            (model, kind, f"results/labels/{PROBE}/{model}.{kind}.csv")
            for model in ANALYSED
            for kind in model_extra_kinds(model)
        ]
    return pages


def atlas_page_name(model, kind=None):
    return model if kind is None else f"{model}.{kind}"


def atlas_pages(wildcards=None):
    return [f"{ATLAS}/{atlas_page_name(m, k)}.html" for m, k, _ in atlas_page_list()]


def atlas_other_pages(wildcards):
    """[(text, href)] of a page's siblings: the model's pages for its other unit kinds."""
    here = getattr(wildcards, "kind", None)
    return [
        (
            "default units" if kind is None else f"{kind} units",
            f"{atlas_page_name(m, kind)}.html",
        )
        for m, kind, _ in atlas_page_list()
        if m == wildcards.model and kind != here
    ]


def atlas_kinds_pattern():
    """The `kind` wildcard of atlas_kind_page: the analysed models' extra kinds."""
    kinds = sorted({k for m, k, _ in atlas_page_list() if k is not None})
    return "|".join(kinds) or "(?!)"


def all_figures():
    names = ["concepts_per_layer", "category_shares", "category_shares_vit_mean"]
    names += ["score_histograms"]
    names += [f"appendix_{model}" for model in ANALYSED]
    if ROLES["cnn"] in ANALYSED:
        names.append("category_shares_resnet")
    if FINETUNED:
        names += ["finetuned_category_shares", "finetuned_concepts_per_layer"]
    if FINETUNING_CONDITIONS:
        names += ["finetuning_category_shares", "finetuning_concepts_per_layer"]
    if images_available():
        names += ["example_units", "image_complexity"]
    if agreement_models():
        names.append("reproduction_agreement")
    names += reliability_figures()
    names += control_figures()
    names += unit_kinds_figures()
    names += ground_truth_figures()
    names += ["labelers"] if LINEAR else []
    return [f"paper/figures/{name}.pdf" for name in names]


def all_tables():
    names = ["claims", "models", "concepts_per_layer", "category_shares"]
    if config["categories"]["curated"] and config["categories"]["automatic"] != "none":
        names.append("categoriser_agreement")
    if agreement_models():
        names.append("reproduction_agreement")
    names += reliability_tables()
    names += final_layer_tables()
    names += ground_truth_tables()
    return [f"paper/tables/{name}.tex" for name in names]


def concept_set_inputs(wildcards):
    """A concept set of kind `labels` is read off the analysed (published) label files."""
    if concept_set_entry(wildcards)["kind"] == "labels":
        return analysed_labels()
    return {}


def example_labels(wildcards):
    return labels_csv(EXAMPLE_MODEL)


def pixel_cache_file(probe, recipe):
    return f"resources/probes/{probe}/pixels_{recipe_key(recipe)}.nc"


def dump_inputs(wildcards):
    inputs = {
        "model": f"resources/models/{wildcards.model}",
        "index": f"resources/probes/{wildcards.probe}/index.csv",
    }
    if wildcards.model in PIXEL_PLAN:
        inputs["pixels"] = pixel_cache_file(
            wildcards.probe, PIXEL_PLAN[wildcards.model]
        )
    return inputs


def embed_images_inputs(wildcards):
    """CLIP's preprocessing is known only to open_clip, so its pass decodes the JPEGs."""
    return {
        "clip": f"resources/clip/{wildcards.clip}",
        "index": f"resources/probes/{wildcards.probe}/index.csv",
    }


def pixel_recipe(wildcards):
    return RECIPES[wildcards.recipe]


# --- reliability (rules/reliability.smk): only where activations exist (computed labels) --


def reliability_models():
    """Models whose labels the reliability pass assesses: every labelled model."""
    return [] if PUBLISHED else list(ANALYSED)


def reliability_figures():
    if not reliability_models():
        return []
    names = ["reliability", "concepts_per_layer_ci", "category_shares_ci"]
    names += ["category_shares_significant", "concepts_per_layer_valid"]
    return names + ["category_shares_valid", "heldout_correlation"]


def reliability_tables():
    return ["reliability"] if reliability_models() else []


def reliability_inputs(models, csv=True, boot=True):
    """{<model>_csv: reliability CSV, <model>_boot: bootstrap file} of ``models``."""
    inputs = {}
    for model in models:
        if csv:
            inputs[f"{model}_csv"] = f"results/reliability/{PROBE}/{model}.csv"
        if boot:
            inputs[f"{model}_boot"] = f"results/reliability/{PROBE}/{model}_boot.nc"
    return inputs


def reliability_vits():
    """The paper figures' models (analysis.vits) that the reliability pass assessed."""
    return [model for model in ROLES["vits"] if model in reliability_models()]


# -- claims (rules/claims.smk): the paper's claims on the analysed models and their controls --
from plan_config import control_models


def claims_controls():
    """{control: base} of the random-init controls whose base is analysed (none from
    published labels: the authors published no control)."""
    if PUBLISHED:
        return {}
    return {c: b for c, b in control_models(config).items() if b in ANALYSED}


def claims_labeled_models():
    """Models whose labels the claims read: the analysed models, then their controls."""
    return list(dict.fromkeys([*ANALYSED, *claims_controls()]))


def claims_boot_models():
    """Models with bootstrap resamples (computed labels): intervals for their claims."""
    return [] if PUBLISHED else claims_labeled_models()


def claims_roles():
    controls = claims_controls()
    return {
        "vits": [m for m in ROLES["vits"] if m in ANALYSED],
        "models": [m for m in ANALYSED if m not in controls],
        "finetuned": {m: list(pair) for m, pair in FINETUNED.items()},
        "controls": controls,
    }


def claims_linear_models():
    """Models whose Linear Explanations the claims read (the claims' second labeler): the
    labelled models LE explains (none from published labels, which have no activations).
    """
    return [m for m in claims_labeled_models() if m in LINEAR]


def claims_inputs(wildcards=None):
    inputs = {f"{m}_labels": labels_csv(m) for m in claims_labeled_models()}
    inputs.update(reliability_inputs(claims_boot_models(), csv=False))
    inputs.update(
        {
            f"{m}_linear": f"results/linear/{PROBE}/{m}.csv"
            for m in claims_linear_models()
        }
    )
    return inputs


# -- unit kinds beyond the default (models.<key>.units): {model}.K.nc, {model}.K.csv ----------
# {extra kinds: models}; each kind set has its dump rule (rules/activations.smk)
DUMP_KIND_SETS = dump_kind_sets(config["models"])
# the `kind_suffix` wildcard of label_units: "" (default kind) or ".K" (never an empty
# pattern, which Snakemake would read as no constraint)
KIND_SUFFIX_PATTERN = "(?:{})".format(
    "|".join(
        ["", *(rf"\.{k}" for k in sorted({k for ks in DUMP_KIND_SETS for k in ks}))]
    )
)


def models_pattern(models):
    """A `model` wildcard constraint matching exactly these models (none: nothing)."""
    return "|".join(models) or "(?!)"


def activation_outputs(extra_kinds):
    """Named outputs of a dump rule: the default kind's file, then one per extra kind."""
    outputs = {"activations": "results/activations/{probe}/{model}.nc"}
    for kind in extra_kinds:
        outputs[kind] = f"results/activations/{{probe}}/{{model}}.{kind}.nc"
    return outputs


def model_extra_kinds(model):
    return extra_unit_kinds(model, config["models"][model])


def unit_kind_labels(wildcards=None):
    """Label files of the analysed models' extra kinds; none from published labels (the
    authors published the default kind only)."""
    if PUBLISHED:
        return []
    return [
        f"results/labels/{PROBE}/{model}.{kind}.csv"
        for model in ANALYSED
        for kind in model_extra_kinds(model)
    ]


# -- final-layer check (rules/final_layer.smk): a classifier's output units vs its class names --
from plan_config import final_layer_models

FINAL_LAYER = final_layer_models(config)


def final_layer_dump_entry(wildcards):
    """The model's entry with its output module as the only layer, default unit kind only
    (the same dump, the same weights)."""
    entry = {k: v for k, v in model_entry(wildcards).items() if k != "units"}
    entry["layers"] = [FINAL_LAYER[wildcards.model]["module"]]
    return entry


def final_layer_classes(wildcards):
    """The class-name concept set of a checked model: its text file and CLIP embeddings."""
    classes = FINAL_LAYER[wildcards.model]["classes"]
    return {
        "concepts": f"resources/concepts/{classes}.txt",
        "concepts_emb": f"results/clip/concepts/{classes}/{CLIP}.nc",
    }


def final_layer_checks(wildcards=None):
    return {model: f"results/final_layer/{PROBE}/{model}.csv" for model in FINAL_LAYER}


def final_layer_tables():
    return ["final_layer"] if FINAL_LAYER else []


def unit_kind_reliability(wildcards=None):
    """Reliability CSVs of the assessed models' extra kinds (computed labels only); the
    agreement with the published labels stays with the default kind."""
    return [
        f"results/reliability/{PROBE}/{model}.{kind}.csv"
        for model in reliability_models()
        for kind in model_extra_kinds(model)
    ]


def kind_reliability_csv(model, kind=None):
    """The reliability CSV of ``model``'s default units (``kind`` None or the default kind)
    or of its extra kind ``kind``, when assess_labels produces it, else [] (published
    labels, a model outside the analysis, a kind the model does not list)."""
    if model not in reliability_models():
        return []
    kinds = unit_kinds(model, config["models"][model])
    if kind is None or kind == kinds[0]:
        return f"results/reliability/{PROBE}/{model}.csv"
    if kind in kinds:
        return f"results/reliability/{PROBE}/{model}.{kind}.csv"
    return []


def unit_kinds_models():
    """The paper figures' ViTs (analysis.vits) with kinds beyond the default, labelled here:
    the models of the unit_kinds figure (none from published labels)."""
    if PUBLISHED:
        return []
    return [m for m in ROLES["vits"] if m in ANALYSED and model_extra_kinds(m)]


def unit_kinds_figures():
    return ["unit_kinds"] if unit_kinds_models() else []


def unit_kinds_label_inputs(wildcards=None):
    """{<model>_<kind>: label CSV} of every kind of the unit_kinds figure's models."""
    return {
        f"{model}_{kind}": (
            labels_csv(model) if i == 0 else labels_csv(f"{model}.{kind}")
        )
        for model in unit_kinds_models()
        for i, kind in enumerate(unit_kinds(model, config["models"][model]))
    }


# --- random-init controls (models.<key>.random_init, control_of) -------------------------


def control_figures():
    """The figure of each model beside its control, when the config has controls."""
    return ["random_control"] if CONTROLS else []


def random_control_inputs(wildcards=None):
    """Labels, reliability CSV and bootstrap file of every controlled model and control."""
    networks = list(dict.fromkeys([*CONTROLS.values(), *CONTROLS]))
    inputs = {f"{model}_labels": labels_csv(model) for model in networks}
    return inputs | reliability_inputs(networks)


# -- ground truth (rules/ground_truth.smk): labels scored against Broden's annotations ---------
from plan_config import has_broden_part


def ground_truth_csvs(wildcards=None):
    """{model or model.kind: ground-truth CSV} of every computed-label model and unit kind,
    when the probe has a Broden part (none from published labels: no activations)."""
    if PUBLISHED or not has_broden_part(config, PROBE):
        return {}
    csvs = {}
    for model in LABELLED:
        csvs[model] = f"results/ground_truth/{PROBE}/{model}.csv"
        for kind in model_extra_kinds(model):
            csvs[f"{model}.{kind}"] = f"results/ground_truth/{PROBE}/{model}.{kind}.csv"
    return csvs


def ground_truth_published():
    """Published labels: Broden's label.csv from `ground_truth.broden_labels`, or None."""
    path = config["ground_truth"]["broden_labels"]
    if not PUBLISHED or not path:
        return None
    path = Path(path).expanduser()
    return str(path / "label.csv" if path.is_dir() else path)


def ground_truth_summary():
    """The per-layer ground-truth summary this configuration makes, or None."""
    if ground_truth_csvs():
        return f"results/ground_truth/{PROBE}/summary.csv"
    if ground_truth_published():
        return "results/ground_truth/published/summary.csv"
    return None


def ground_truth_figure_models():
    """The figure's lines: the paper figures' models (analysis.vits, analysis.cnn) and their
    random-init controls, default unit kind; every model and kind stays in the table."""
    from plan_config import control_models

    roles = [*ROLES["vits"], ROLES["cnn"]]
    controls = [c for c, base in control_models(config).items() if base in roles]
    pool = ground_truth_csvs() or ANALYSED
    return [m for m in dict.fromkeys([*roles, *controls]) if m in pool] or list(pool)


def ground_truth_figures():
    return ["ground_truth"] if ground_truth_summary() else []


def ground_truth_tables():
    return ["ground_truth"] if ground_truth_summary() else []


def linear_csvs(wildcards=None):
    """{model: explanation CSV} of the default unit kind of every explained model."""
    return {model: f"results/linear/{PROBE}/{model}.csv" for model in LINEAR}


def atlas_linear_csvs(wildcards=None):
    """The explanation CSV of every atlas page ("" for a page without explanations)."""
    return [
        (
            f"results/linear/{PROBE}/{atlas_page_name(model, kind)}.csv"
            if model in LINEAR
            else ""
        )
        for model, kind, _ in atlas_page_list()
    ]


def linear_explanation_files(wildcards=None):
    """Explanation CSVs of every explained model and unit kind (named as the labels are)."""
    return list(linear_csvs().values()) + [
        f"results/linear/{PROBE}/{model}.{kind}.csv"
        for model in LINEAR
        for kind in model_extra_kinds(model)
    ]
