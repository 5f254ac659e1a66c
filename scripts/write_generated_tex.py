"""Rule write_generated_tex: which figures and tables paper/main.tex includes."""

import _use_checkout  # noqa: F401  (this checkout's vitconcepts first)

from vitconcepts.config import random_clip_scorer
from vitconcepts.constants import RANDOM_SCORER_NOTE
from vitconcepts.paper import write_generated_tex
from vitconcepts.rule_job import rule_log

with rule_log(snakemake):
    write_generated_tex(
        snakemake.params.figures,
        snakemake.params.tables,
        snakemake.output[0],
        warning=RANDOM_SCORER_NOTE if random_clip_scorer(snakemake.config) else "",
    )
