"""Rule image_complexity: mean complexity of the top-activating images per layer."""

import _use_checkout  # noqa: F401  (this checkout's vitconcepts first)

from vitconcepts.complexity import image_complexity
from vitconcepts.preflight import check_complexity
from vitconcepts.rule_job import rule_log

with rule_log(snakemake):
    check_complexity(snakemake.config)  # before any image is scored
    image_complexity(
        {model: snakemake.input[model] for model in snakemake.params.models},
        snakemake.input.index,
        snakemake.output[0],
        measure=snakemake.params.measure,
        learned_scorer=snakemake.params.scorer,
        batch_size=snakemake.params.batch_size,
    )
