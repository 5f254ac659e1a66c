# Shared wiring: config checks, wildcard constraints, input functions and target lists.
# No analysis logic here: it lives in src/vitconcepts and is unit-tested.

import sys
from pathlib import Path

# The Snakefile imports the library at parse time; rule scripts find it through the
# scripts/vitconcepts symlink (Snakemake puts a script's folder on sys.path).
SRC = str(Path(workflow.basedir) / "src")
if SRC not in sys.path:
    sys.path.insert(0, SRC)

from vitconcepts.config import analysed_models, check_config, finetuned_pairs
from vitconcepts.pixels import pixel_cache_plan_for_config

check_config(config)

PROBE = config["probe"]
CONCEPTS = config["concept_set"]
CLIP = config["clip_model"]
ANALYSED = analysed_models(config)
FINETUNED = finetuned_pairs(config)
ROLES = config["analysis"]
PUBLISHED = config["labels_source"] == "published"
EXAMPLE_MODEL = ROLES["example_units"]["model"] or (ANALYSED[0] if ANALYSED else None)
# decode once: {model or "clip:<key>": recipe} of the passes that read a pixel cache
PIXEL_PLAN = pixel_cache_plan_for_config(config, [] if PUBLISHED else ANALYSED)
RECIPES = {recipe.key: recipe for recipe in PIXEL_PLAN.values()}


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
    keys = ("source", "weights", "pretrained", "revision")
    return {key: entry[key] for key in keys if key in entry}


def clip_entry(wildcards):
    return config["clip_models"][wildcards.clip]


def probe_parts(wildcards):
    """The probe's parts, with the top-level `imagenet_val` path filled in."""
    parts = []
    for part in config["probes"][wildcards.probe]["parts"]:
        part = dict(part)
        if part["kind"] == "imagenet_val" and not part.get("path"):
            part["path"] = config["imagenet_val"]
        parts.append(part)
    return parts


def concept_set_entry(wildcards):
    return config["concept_sets"][wildcards.concepts]


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


def all_figures():
    names = ["concepts_per_layer", "category_shares", "category_shares_vit_mean"]
    names += ["score_histograms"]
    names += [f"appendix_{model}" for model in ANALYSED]
    if ROLES["cnn"] in ANALYSED:
        names.append("category_shares_resnet")
    if FINETUNED:
        names += ["finetuned_category_shares", "finetuned_concepts_per_layer"]
    if images_available():
        names += ["example_units", "image_complexity"]
    return [f"paper/figures/{name}.pdf" for name in names]


def all_tables():
    names = ["models", "concepts_per_layer", "category_shares"]
    if config["categories"]["curated"] and config["categories"]["automatic"] != "none":
        names.append("categoriser_agreement")
    return [f"paper/tables/{name}.tex" for name in names]


def concept_set_inputs(wildcards):
    """A concept set of kind `labels` is read off the analysed (published) label files."""
    if concept_set_entry(wildcards)["kind"] == "labels":
        return analysed_labels()
    return {}


def example_labels(wildcards):
    return labels_csv(EXAMPLE_MODEL)


def pixel_cache_file(probe, recipe):
    return f"resources/probes/{probe}/pixels_{recipe.key}.nc"


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
    inputs = {
        "clip": f"resources/clip/{wildcards.clip}",
        "index": f"resources/probes/{wildcards.probe}/index.csv",
    }
    recipe = PIXEL_PLAN.get(f"clip:{wildcards.clip}")
    if recipe is not None:
        inputs["pixels"] = pixel_cache_file(wildcards.probe, recipe)
    return inputs


def pixel_recipe(wildcards):
    return RECIPES[wildcards.recipe].to_dict()
