"""Rule download_clip: CLIP weights into resources/clip/{clip}/ with sha256s."""

import _use_checkout  # noqa: F401  (this checkout's vitconcepts first)

from vitconcepts.clip import download_clip
from vitconcepts.rule_job import rule_log

with rule_log(snakemake):
    download_clip(snakemake.wildcards.clip, snakemake.params.entry, snakemake.output[0])
