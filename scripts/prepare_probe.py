"""Rule prepare_probe: the ordered, hashed index of the probe images."""

import _use_checkout  # noqa: F401  (this checkout's vitconcepts first)

from vitconcepts.probe import build_probe_index
from vitconcepts.rule_job import rule_log

with rule_log(snakemake):
    build_probe_index(
        snakemake.wildcards.probe,
        snakemake.params.parts,
        snakemake.output.index,
        snakemake.output.meta,
        snakemake.params.work_dir,
        threads=snakemake.threads,
    )
