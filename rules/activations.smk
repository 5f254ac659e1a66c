rule dump_activations:
    input:
        model="resources/models/{model}",
        index="resources/probes/{probe}/index.csv",
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
        # only settings that change the numbers; batch_size, num_workers, device and
        # shard_size are read from the config by the script (no rerun when they change)
        entry=model_entry,
        dtype=config["dump"]["dtype"],
    script:
        "../scripts/dump_activations.py"
