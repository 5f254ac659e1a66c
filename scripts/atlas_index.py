"""Rule atlas_index: the atlas's start page, one row per model."""

import _use_checkout  # noqa: F401  (this checkout's vitconcepts first)

from vitconcepts.atlas import build_index
from vitconcepts.rule_job import rule_log

with rule_log(snakemake):
    build_index(
        dict(zip(snakemake.params.models, snakemake.input.labels, strict=True)),
        snakemake.output[0],
        probe=snakemake.params.probe,
        images=snakemake.params.images,
    )
