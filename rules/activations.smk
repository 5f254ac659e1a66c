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


rule dump_activations:
    input:
        unpack(dump_inputs),
    output:
        "results/activations/{probe}/{model}.nc",
    log:
        "logs/dump_activations/{probe}/{model}.log",
    benchmark:
        "results/benchmarks/dump_activations/{probe}/{model}.tsv"
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
