"""Rule table_models: paper/tables/models.tex."""

from vitconcepts.tables import table_models

from vitconcepts.logs import rule_log

with rule_log(snakemake):
    table_models(snakemake.params.models, snakemake.output[0])
