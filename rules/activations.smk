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
        entry=model_entry,
        dump=config["dump"],
    script:
        "../scripts/dump_activations.py"
