"""Rule table_concepts_per_layer: paper/tables/concepts_per_layer.tex."""

import _use_checkout  # noqa: F401  (this checkout's vitconcepts first)

from vitconcepts.rule_job import rule_log
from vitconcepts.tables import table_concepts_per_layer

with rule_log(snakemake):
    table_concepts_per_layer(snakemake.input[0], snakemake.output[0])
