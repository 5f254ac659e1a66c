"""Concept sets: url (checksummed, local HTTP server), file, wordfreq, labels."""

from __future__ import annotations

import hashlib

import pandas as pd
import pytest

from vitconcepts.concepts import build_concept_set, read_concepts, wordfreq_concepts
from vitconcepts.errors import ConfigError, InputDataError

LIST = b"the\nof\n  red \n\nstriped\nred\ndog\n"


def test_url_kind_fetches_and_checks_sha256(http_server, tmp_path):
    http_server.routes["/20k.txt"] = (200, {}, LIST)
    entry = {
        "kind": "url",
        "url": f"{http_server.url}/20k.txt",
        "sha256": hashlib.sha256(LIST).hexdigest(),
    }
    out = build_concept_set(entry, tmp_path / "concepts" / "20k.txt")
    assert out.read_text() == "the\nof\nred\nstriped\ndog\n"
    assert read_concepts(out) == ["the", "of", "red", "striped", "dog"]
    assert not list((tmp_path / "concepts").glob("*.download*"))

    bad = dict(entry, sha256="0" * 64)
    with pytest.raises(InputDataError, match="expected sha256"):
        build_concept_set(bad, tmp_path / "other" / "20k.txt")
    assert not (tmp_path / "other" / "20k.txt").exists()


def test_url_kind_unreachable(closed_port_url, tmp_path):
    entry = {"kind": "url", "url": f"{closed_port_url}/20k.txt", "sha256": "0" * 64}
    with pytest.raises(InputDataError, match="20k.txt"):
        build_concept_set(entry, tmp_path / "20k.txt")


def test_file_kind_normalises(tmp_path):
    source = tmp_path / "mine.txt"
    source.write_bytes(LIST)
    out = build_concept_set({"kind": "file", "path": str(source)}, tmp_path / "out" / "mine.txt")
    assert read_concepts(out) == ["the", "of", "red", "striped", "dog"]


def test_file_kind_errors_name_key_and_path(tmp_path):
    missing = tmp_path / "nowhere.txt"
    with pytest.raises(InputDataError) as info:
        build_concept_set({"kind": "file", "path": str(missing)}, tmp_path / "custom.txt")
    assert "concept_sets.custom.path" in str(info.value) and str(missing) in str(info.value)

    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n")
    with pytest.raises(InputDataError, match="no concepts"):
        build_concept_set({"kind": "file", "path": str(empty)}, tmp_path / "custom.txt")
    binary = tmp_path / "binary.txt"
    binary.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(InputDataError, match="UTF-8"):
        build_concept_set({"kind": "file", "path": str(binary)}, tmp_path / "custom.txt")
    with pytest.raises(ConfigError, match="concept_sets.custom.path"):
        build_concept_set({"kind": "file"}, tmp_path / "custom.txt")
    with pytest.raises(ConfigError, match="kind"):
        build_concept_set({"kind": "magic"}, tmp_path / "custom.txt")


def test_wordfreq_kind(tmp_path):
    out = build_concept_set({"kind": "wordfreq", "n": 300}, tmp_path / "wordfreq_300.txt")
    words = read_concepts(out)
    assert len(words) == 300 == len(set(words))
    assert all(w.isalpha() and len(w) >= 2 for w in words)
    assert words[:3] == ["the", "to", "and"]  # most frequent first
    assert "i" not in words and "a" not in words  # min_length=2
    again = build_concept_set({"kind": "wordfreq", "n": 300}, tmp_path / "again.txt")
    assert again.read_bytes() == out.read_bytes()
    long_words = wordfreq_concepts(50, min_length=6)
    assert all(len(w) >= 6 for w in long_words) and len(long_words) == 50
    with pytest.raises(ConfigError, match="lang"):
        build_concept_set({"kind": "wordfreq", "n": 5, "lang": "xx-nope"}, tmp_path / "x.txt")


def test_labels_kind(tmp_path):
    csv = tmp_path / "vit.csv"
    pd.DataFrame(
        {
            "layer": ["a", "a", "b"],
            "unit": [0, 1, 0],
            "description": ["green", "snorkeling", "green"],
            "similarity": [0.1, 0.2, 0.3],
            "images": ["[1 2]"] * 3,
        }
    ).to_csv(csv, index=False)
    out = build_concept_set({"kind": "labels"}, tmp_path / "labels.txt", label_csvs=[csv])
    assert read_concepts(out) == ["green", "snorkeling"]
    with pytest.raises(ConfigError):
        build_concept_set({"kind": "labels"}, tmp_path / "labels.txt")
