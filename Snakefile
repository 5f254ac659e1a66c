# vitconcepts: layer-wise CLIP-Dissect concept analysis of ViTs and CNNs.
# Reproduces Dorszewski et al., "From Colors to Classes" (arXiv 2503.24071).
#
#   snakemake --cores all --config imagenet_val=/path/to/imagenet/val
#   snakemake --cores all --configfile config/published.yaml     # authors' labels, no GPU
#   snakemake paper/figures/concepts_per_layer.pdf                 # one figure alone


from snakemake.utils import min_version, validate

min_version("9.0")


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
include: "rules/paper.smk"


rule all:
    default_target: True
    input:
        "paper/main.pdf",
        all_figures(),
        all_tables(),
