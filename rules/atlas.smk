# The unit atlas: a static site of every labelled unit, atlas/{probe}/index.html
# (atlas/published/ for the authors' labels). Build it with `snakemake atlas`.


rule atlas_thumbnails:
    input:
        labels=analysed_labels().values(),
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
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=20,
    params:
        images=images_available(),
        probe=PROBE,
    script:
        "../scripts/atlas_page.py"


rule atlas_index:
    input:
        pages=atlas_pages(),
        labels=analysed_labels().values(),
    output:
        f"{ATLAS}/index.html",
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
        models=ANALYSED,
        images=images_available(),
        probe=PROBE,
    script:
        "../scripts/atlas_index.py"


rule atlas:
    input:
        f"{ATLAS}/index.html",
