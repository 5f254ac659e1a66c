"""Rule download_model: weights of one model into resources/models/{model}/ with sha256s."""

import _use_checkout  # noqa: F401  (this checkout's vitconcepts first)

from vitconcepts.download import download_model
from vitconcepts.preflight import check_model_layers
from vitconcepts.rule_job import rule_log

with rule_log(snakemake):
    # listed layer names are checked on a weightless skeleton before the download
    check_model_layers(snakemake.wildcards.model, snakemake.config["models"])
    download_model(snakemake.wildcards.model, snakemake.params.entry, snakemake.output[0])
