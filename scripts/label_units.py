"""Rule label_units: CLIP-Dissect labels (best concept, score, top images) for every unit."""

import _use_checkout  # noqa: F401  (this checkout's vitconcepts first)

from vitconcepts.labeling import label_units
from vitconcepts.logs import rule_log

options = snakemake.params.labeling
with rule_log(snakemake):
    label_units(
        snakemake.input.activations,
        snakemake.input.images,
        snakemake.input.concepts_emb,
        snakemake.input.concepts,
        snakemake.output.csv,
        snakemake.output.topk,
        method=options["method"],
        params=options["params"],
        n_top_images=options["n_top_images"],
        n_top_concepts=options["n_top_concepts"],
        device=options["device"],
        threads=snakemake.threads,
    )
