# The unit atlas: a static site of every labelled unit, atlas/{probe}/index.html
# (atlas/published/ for the authors' labels). Build it with `snakemake atlas`; a page per
# model ({model}.html) and per extra unit kind ({model}.{kind}.html), each buildable alone.


rule atlas_thumbnails:
    input:
        labels=[labels for _, _, labels in atlas_page_list()],
        index=f"resources/probes/{PROBE}/index.csv",
    output:
        directory(f"{ATLAS}/thumbs"),
    log:
        "logs/atlas_thumbnails.log",
    benchmark:
        "results/benchmarks/atlas_thumbnails.tsv"
    conda:
        "../envs/analysis.yaml"
    threads: 4
    resources:
        mem_mb=2000,
        runtime=120,
    script:
        "../scripts/atlas_thumbnails.py"


rule atlas_page:
    input:
        unpack(atlas_page_inputs),
    output:
        html=f"{ATLAS}/{{model}}.html",
        data=f"{ATLAS}/data/{{model}}.js",
        summary=f"{ATLAS}/figures/{{model}}.png",
    log:
        "logs/atlas_page/{model}.log",
    benchmark:
        "results/benchmarks/atlas_page/{model}.tsv"
    wildcard_constraints:
        model=models_pattern(LABELLED),
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=20,
    params:
        images=images_available(),
        probe=PROBE,
        kind=None,
        other_pages=atlas_other_pages,
        control_of=lambda wildcards: CONTROLS.get(wildcards.model),
    script:
        "../scripts/atlas_page.py"


rule atlas_kind_page:
    input:
        unpack(atlas_kind_page_inputs),
    output:
        html=f"{ATLAS}/{{model}}.{{kind}}.html",
        data=f"{ATLAS}/data/{{model}}.{{kind}}.js",
    log:
        "logs/atlas_page/{model}.{kind}.log",
    benchmark:
        "results/benchmarks/atlas_page/{model}.{kind}.tsv"
    wildcard_constraints:
        model=models_pattern(ANALYSED),
        kind=atlas_kinds_pattern(),
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=30,
    params:
        images=True,
        probe=PROBE,
        kind=lambda wildcards: wildcards.kind,
        other_pages=atlas_other_pages,
    script:
        "../scripts/atlas_page.py"


rule atlas_index:
    input:
        pages=atlas_pages(),
        labels=[labels for _, _, labels in atlas_page_list()],
        linear=[csv for csv in atlas_linear_csvs() if csv],
    output:
        html=f"{ATLAS}/index.html",
        data=f"{ATLAS}/data/index.js",
    log:
        "logs/atlas_index.log",
    benchmark:
        "results/benchmarks/atlas_index.tsv"
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        pages=[[model, kind] for model, kind, _ in atlas_page_list()],
        linear=atlas_linear_csvs(),
        images=images_available(),
        probe=PROBE,
    script:
        "../scripts/atlas_index.py"


rule atlas:
    input:
        f"{ATLAS}/index.html",
