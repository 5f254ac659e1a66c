"""Rule download_model: weights of one model into resources/models/{model}/ with sha256s."""

import _use_checkout  # noqa: F401  (this checkout's vitconcepts first)

from vitconcepts.download import download_model
from vitconcepts.rule_job import rule_log

with rule_log(snakemake):
    download_model(snakemake.wildcards.model, snakemake.params.entry, snakemake.output[0])
