"""Rule dump_activations: per-layer unit activations of one model over the probe set."""

from pathlib import Path

import _use_checkout  # noqa: F401  (this checkout's vitconcepts first)

from vitconcepts.activations import dump_activations
from vitconcepts.models import resolve_model_spec
from vitconcepts.rule_job import rule_log

# speed-only settings come from the config, not params: changing them re-runs nothing
options = snakemake.config["dump"]
with rule_log(snakemake):
    dump_activations(
        resolve_model_spec(snakemake.wildcards.model, snakemake.params.entry),
        snakemake.input.index,
        Path(snakemake.input.model) / "manifest.json",
        snakemake.output[0],
        dtype=snakemake.params.dtype,
        batch_size=options["batch_size"],
        shard_size=options["shard_size"],
        num_workers=options["num_workers"],
        device=options["device"],
        threads=snakemake.threads,
        pixels=getattr(snakemake.input, "pixels", None),
        autocast=snakemake.params.autocast,
        complevel=options.get("complevel", 1),
    )
