"""Rule table_final_layer: paper/tables/final_layer.tex."""

import _use_checkout  # noqa: F401  (this checkout's vitconcepts first)

from vitconcepts.rule_job import rule_log
from vitconcepts.tables import table_final_layer

with rule_log(snakemake):
    table_final_layer(dict(snakemake.input.items()), snakemake.params.modules, snakemake.output[0])
