rule concept_set:
    input:
        unpack(concept_set_inputs),
    output:
        "resources/concepts/{concepts}.txt",
    log:
        "logs/concept_set/{concepts}.log",
    benchmark:
        "results/benchmarks/concept_set/{concepts}.tsv"
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        entry=concept_set_entry,
        file=concept_file,
    script:
        "../scripts/concept_set.py"


rule embed_images:
    input:
        unpack(embed_images_inputs),
    output:
        "results/clip/{probe}/{clip}.nc",
    log:
        "logs/embed_images/{probe}/{clip}.log",
    benchmark:
        "results/benchmarks/embed_images/{probe}/{clip}.tsv"
    conda:
        "../envs/torch.yaml"
    threads: 8
    resources:
        mem_mb=16000,
        runtime=360,
        gpu=gpu("embed"),
    params:
        entry=clip_entry,
        dtype=config["clip_embedding"]["dtype"],
    script:
        "../scripts/embed_images.py"


rule embed_concepts:
    input:
        clip="resources/clip/{clip}",
        concepts="resources/concepts/{concepts}.txt",
    output:
        "results/clip/concepts/{concepts}/{clip}.nc",
    log:
        "logs/embed_concepts/{concepts}/{clip}.log",
    benchmark:
        "results/benchmarks/embed_concepts/{concepts}/{clip}.tsv"
    conda:
        "../envs/torch.yaml"
    threads: 4
    resources:
        mem_mb=8000,
        runtime=60,
        gpu=gpu("embed"),
    params:
        entry=clip_entry,
        dtype=config["clip_embedding"]["dtype"],
    script:
        "../scripts/embed_concepts.py"
