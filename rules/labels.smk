# {kind_suffix}: "" for a model's default unit kind, ".K" for kind K (models.<key>.units)
rule label_units:
    input:
        activations="results/activations/{probe}/{model}{kind_suffix}.nc",
        images=f"results/clip/{{probe}}/{CLIP}.nc",
        concepts_emb=f"results/clip/concepts/{CONCEPTS}/{CLIP}.nc",
        concepts=f"resources/concepts/{CONCEPTS}.txt",
    output:
        csv="results/labels/{probe}/{model}{kind_suffix}.csv",
        topk="results/labels/{probe}/{model}{kind_suffix}_topk.nc",
    log:
        "logs/label_units/{probe}/{model}{kind_suffix}.log",
    benchmark:
        "results/benchmarks/label_units/{probe}/{model}{kind_suffix}.tsv"
    wildcard_constraints:
        kind_suffix=KIND_SUFFIX_PATTERN,
    conda:
        "../envs/torch.yaml"
    threads: 8
    resources:
        mem_mb=32000,
        runtime=240,
        gpu=gpu("label_units"),
    params:
        # what changes the labels; labeling.device is read from the config by the script
        method=config["labeling"]["method"],
        params=config["labeling"]["params"],
        n_top_images=config["labeling"]["n_top_images"],
        n_top_concepts=config["labeling"]["n_top_concepts"],
    script:
        "../scripts/label_units.py"


rule fetch_published_labels:
    output:
        "resources/published/labels/{model}.csv",
    log:
        "logs/fetch_published_labels/{model}.log",
    benchmark:
        "results/benchmarks/fetch_published_labels/{model}.tsv"
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        entry=published_entry,
        base_url=config.get("published", {}).get("base_url", ""),
        local_dir=config["published_labels"],
    script:
        "../scripts/fetch_published.py"


rule fetch_category_map:
    output:
        "resources/published/words_per_category_curated.json",
    log:
        "logs/fetch_category_map.log",
    benchmark:
        "results/benchmarks/fetch_category_map.tsv"
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        entry=config.get("published", {}).get("categories", {}),
        base_url=config.get("published", {}).get("base_url", ""),
        local_dir=config["published_labels"],
    script:
        "../scripts/fetch_published.py"
