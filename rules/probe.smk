# A real run checks the local data (ImageNet val, image folders) before any job starts;
# a dry run only warns (rules/common.smk).
onstart:
    stop_on_missing_data()


rule prepare_probe:
    output:
        index="resources/probes/{probe}/index.csv",
        meta="resources/probes/{probe}/index.json",
    log:
        "logs/prepare_probe/{probe}.log",
    benchmark:
        "results/benchmarks/prepare_probe/{probe}.tsv"
    conda:
        "../envs/torch.yaml"
    threads: 8
    resources:
        mem_mb=4000,
        runtime=240,
    params:
        parts=probe_parts,
        files=probe_files,
        work_dir="resources/probes/{probe}",
    script:
        "../scripts/prepare_probe.py"
