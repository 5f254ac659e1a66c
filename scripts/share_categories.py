"""Rule share_categories: category shares per layer among units above the layer's mean score."""

import _use_checkout  # noqa: F401  (this checkout's vitconcepts first)

from vitconcepts.analysis import category_shares
from vitconcepts.rule_job import rule_log

with rule_log(snakemake):
    category_shares(
        {model: snakemake.input[model] for model in snakemake.params.models},
        snakemake.input.categories,
        snakemake.output[0],
    )
