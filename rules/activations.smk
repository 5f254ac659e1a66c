rule cache_pixels:
    input:
        index="resources/probes/{probe}/index.csv",
    output:
        "resources/probes/{probe}/pixels_{recipe}.nc",
    log:
        "logs/cache_pixels/{probe}/{recipe}.log",
    benchmark:
        "results/benchmarks/cache_pixels/{probe}/{recipe}.tsv"
    conda:
        "../envs/torch.yaml"
    threads: 8
    resources:
        mem_mb=4000,
        runtime=120,
    params:
        recipe=pixel_recipe,
    script:
        "../scripts/cache_pixels.py"


# One forward pass per model writes every unit kind it lists (models.<key>.units): the
# default kind to {model}.nc, kind K to {model}.K.nc. A rule has one output list, so each
# kind set gets its rule: dump_activations (the default kind alone) and e.g.
# dump_activations_mlp for [cls, mlp]; each takes only its own models.
for extra_kinds, kind_set_models in DUMP_KIND_SETS.items():

    rule:
        name:
            dump_rule_name(extra_kinds)
        input:
            unpack(dump_inputs),
        output:
            **activation_outputs(extra_kinds),
        log:
            "logs/dump_activations/{probe}/{model}.log",
        benchmark:
            "results/benchmarks/dump_activations/{probe}/{model}.tsv"
        wildcard_constraints:
            model=models_pattern(kind_set_models),
        conda:
            "../envs/torch.yaml"
        threads: 8
        resources:
            mem_mb=16000,
            runtime=360,
            gpu=gpu("dump_activations"),
        params:
            # only settings that change the numbers; batch_size, num_workers, device,
            # shard_size and complevel are read from the config by the script (no rerun when they change)
            entry=model_entry,
            dtype=config["dump"]["dtype"],
            autocast=config["dump"]["autocast"],
        script:
            "../scripts/dump_activations.py"
