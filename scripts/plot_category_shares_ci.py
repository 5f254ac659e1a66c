"""Rule plot_category_shares_ci: category shares per layer with bootstrap bands."""

import _use_checkout  # noqa: F401  (this checkout's vitconcepts first)

from vitconcepts.figures import plot_category_shares_ci
from vitconcepts.rule_job import rule_log

with rule_log(snakemake):
    models = snakemake.params.models
    plot_category_shares_ci(
        snakemake.input.shares,
        {m: snakemake.input[f"{m}_boot"] for m in models},
        snakemake.input.categories,
        models,
        snakemake.output.pdf,
    )
