"""Rule atlas_thumbnails: one small JPEG per probe image that is a top image of any unit."""

import _use_checkout  # noqa: F401  (this checkout's vitconcepts first)

from vitconcepts.atlas import make_thumbnails
from vitconcepts.rule_job import rule_log

with rule_log(snakemake):
    make_thumbnails(
        list(snakemake.input.labels),
        snakemake.input.index,
        snakemake.output[0],
        threads=snakemake.threads,
    )
