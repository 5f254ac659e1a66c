"""Rules dump_activations*: per-layer unit activations of one model over the probe set, one
file per unit kind it lists (one forward pass)."""

from pathlib import Path

import _use_checkout  # noqa: F401  (this checkout's vitconcepts first)

from vitconcepts.activations import dump_activations
from vitconcepts.models import resolve_model_spec
from vitconcepts.rule_job import rule_log

# speed-only settings come from the config, not params: changing them re-runs nothing
options = snakemake.config["dump"]
with rule_log(snakemake):
    spec = resolve_model_spec(snakemake.wildcards.model, snakemake.params.entry)
    # the rule's named outputs: `activations` (the default kind), then one per extra kind
    outputs = {spec.default_kind: snakemake.output.activations}
    outputs.update({kind: snakemake.output[kind] for kind in spec.units[1:]})
    dump_activations(
        spec,
        snakemake.input.index,
        Path(snakemake.input.model) / "manifest.json",
        outputs,
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
