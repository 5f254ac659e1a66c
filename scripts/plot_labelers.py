"""Rule plot_labelers: CLIP-Dissect's label vs Linear Explanations, held-out, per layer."""

import _use_checkout  # noqa: F401  (this checkout's vitconcepts first)

from vitconcepts.figures import plot_labelers
from vitconcepts.rule_job import rule_log

with rule_log(snakemake):
    models = snakemake.params.models
    plot_labelers(
        {m: snakemake.input[m] for m in models},
        models,
        dict(snakemake.params.controls),
        snakemake.output.pdf,
    )
