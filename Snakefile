# vitconcepts: layer-wise CLIP-Dissect concept analysis of ViTs and CNNs.
# Reproduces Dorszewski et al., "From Colors to Classes" (arXiv 2503.24071).
#
#   snakemake --cores all --config imagenet_val=/path/to/imagenet/val
#   snakemake --cores all --configfile config/published.yaml     # authors' labels, no GPU
#   snakemake paper/figures/concepts_per_layer.pdf                 # one figure alone


from snakemake.utils import min_version, validate

min_version("9.0")


# config.yaml is the paper's setup. A --configfile that defines its own `models` (such as
# .test/config.yaml) replaces it instead of being merged into it; one that does not (such as
# config/published.yaml) only overrides the keys it names.
if "models" not in config:

    configfile: "config.yaml"


validate(config, schema="config.schema.yaml")


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/download.smk"
include: "rules/probe.smk"
include: "rules/activations.smk"
include: "rules/clip.smk"
include: "rules/labels.smk"
include: "rules/analysis.smk"
include: "rules/figures.smk"
include: "rules/tables.smk"
include: "rules/claims.smk"
include: "rules/agreement.smk"
include: "rules/reliability.smk"
include: "rules/linear.smk"
include: "rules/final_layer.smk"
include: "rules/ground_truth.smk"
include: "rules/atlas.smk"
include: "rules/paper.smk"


rule all:
    default_target: True
    input:
        "paper/main.pdf",
        all_figures(),
        all_tables(),
        unit_kind_labels(),
        unit_kind_reliability(),
        list(ground_truth_csvs().values()),
        linear_explanation_files(),
