"""Rule broden_presence: which Broden concept is marked in which image of the probe's Broden
part."""

import _use_checkout  # noqa: F401  (this checkout's vitconcepts first)

from vitconcepts.ground_truth import build_presence
from vitconcepts.rule_job import rule_log

with rule_log(snakemake):
    build_presence(snakemake.input.index, snakemake.output[0], threads=snakemake.threads)
