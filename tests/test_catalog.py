"""The Snakemake workflow catalog's standardized usage: its YAML and config/README.md."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_catalog_yaml_declares_the_standardized_usage() -> None:
    catalog = yaml.safe_load((ROOT / ".snakemake-workflow-catalog.yml").read_text())
    usage = catalog["usage"]
    assert usage["software-stack-deployment"] == {"conda": True}
    assert usage["report"] is True
    assert "imagenet_val" in usage["mandatory-flags"]["flags"]
    assert (ROOT / "Snakefile").is_file() and (ROOT / "config.yaml").is_file()


def test_config_readme_describes_every_config_group() -> None:
    readme = (ROOT / "config" / "README.md").read_text()
    schema = yaml.safe_load((ROOT / "config.schema.yaml").read_text())
    missing = [key for key in schema["properties"] if f"`{key}`" not in readme]
    assert not missing, f"config/README.md does not describe {missing}"


def test_every_table_and_figure_is_in_the_report() -> None:
    """Each rule writing paper/figures/*.pdf or paper/tables/* wraps it in report()."""
    import re

    for smk in (ROOT / "rules").glob("*.smk"):
        text = smk.read_text()
        for rule in re.split(r"\nrule ", text)[1:]:
            if "output:" not in rule:
                continue  # a target rule (input only)
            outputs = rule.split("output:", 1)[-1].split("log:", 1)[0]
            for path in re.findall(r'"(paper/(?:figures/[^"]+\.pdf|tables/[^"]+))"', outputs):
                before = outputs[: outputs.index(f'"{path}"')]
                assert before.rstrip().endswith("report("), (smk.name, path)
