# Downloads are cacheable between workflows (--cache); Snakemake forbids a benchmark on a
# cached rule, so these two rules have none.


rule download_model:
    output:
        directory("resources/models/{model}"),
    log:
        "logs/download_model/{model}.log",
    cache: "omit-software"
    conda:
        "../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        entry=model_weights_entry,
    script:
        "../scripts/download_model.py"


rule download_clip:
    output:
        directory("resources/clip/{clip}"),
    log:
        "logs/download_clip/{clip}.log",
    cache: "omit-software"
    conda:
        "../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        entry=clip_entry,
    script:
        "../scripts/download_clip.py"
