"""Rule table_models: paper/tables/models.tex."""

import _use_checkout  # noqa: F401  (this checkout's vitconcepts first)

from vitconcepts.rule_job import rule_log
from vitconcepts.tables import table_models

with rule_log(snakemake):
    table_models(
        snakemake.params.models,
        snakemake.output[0],
        label_csvs={model: snakemake.input[model] for model in snakemake.params.analysed},
    )
