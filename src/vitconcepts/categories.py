"""Concept categories: the authors' curated map plus an offline WordNet categoriser.

The paper sorts concepts into nine categories (:data:`CATEGORIES`). The authors published a
curated map (``words_per_category_curated.json``) for the concepts their models used; other
concepts (other concept sets, other models) need an automatic categoriser.

Automatic categoriser (``automatic="wordnet"``), deterministic and offline:

1. **Lexicon** (source ``lexicon``): a small list of colour words and of texture/pattern words
   takes precedence (``dark``, ``striped``, ``dotted``, ...), because WordNet's first sense of
   such words is often not the visual one.
2. **WordNet** (source ``wordnet``): the word (spaces and hyphens joined with ``_``; for a
   phrase WordNet lacks, its last word) is looked up in WordNet 3.0. The first noun sense is
   used when there is one (WordNet orders senses by frequency), preferring the first sense
   that is a physical entity (concepts describe what images show). Its hypernym closure
   (instance hypernyms included) is matched against anchor synsets, first match wins:

   * proper nouns (instances): places/regions/structures -> ``places and buildings``,
     anything else (people, firms, ...) -> ``names``;
   * ``color`` -> ``colors``;
   * food, produce -> ``natural elements and organisms`` (the curated map files fruit and
     vegetables there);
   * material, fabric, substance, texture, pattern -> ``textures and materials``;
   * organism, plant part, body part, natural object, body of water, geological formation,
     natural phenomenon -> ``natural elements and organisms``;
   * structure, building, facility, location, region, geographic area -> ``places and
     buildings``;
   * artifact, instrumentality, device, vehicle, machine, physical object -> ``objects and
     machines``;
   * act, activity, event, sport, person (the curated map files roles such as ``chef`` or
     ``tourists`` under activities) -> ``activities``;
   * abstraction, attribute, psychological feature, communication, group -> ``abstract``.

   Words with no noun sense: gerunds (``-ing``) -> ``activities``, other verb forms
   (participles such as ``locked``) -> ``abstract``; adjectives whose attribute is colour ->
   ``colors``; other adjectives via their pertainym noun, else ``abstract``.
3. **No synset** (source ``default``): ``unknown``.

The WordNet database is read with nltk's reader from a local directory: ``wordnet_dir``, the
``WORDNET_DIR`` environment variable, Debian's ``/usr/share/wordnet`` (package
``wordnet-base``) or an nltk_data ``corpora/wordnet`` folder. No downloader is used.
"""

from __future__ import annotations

import atexit
import functools
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from .concepts import read_concepts
from .errors import ConfigError, InputDataError

#: Category names exactly as in the authors' curated map, in its order.
CATEGORIES: tuple[str, ...] = (
    "colors",
    "textures and materials",
    "natural elements and organisms",
    "objects and machines",
    "places and buildings",
    "activities",
    "names",
    "abstract",
    "unknown",
)
AUTOMATIC = ("wordnet", "none")
SOURCES = ("curated", "wordnet", "lexicon", "default")

#: Colour words whose visual sense WordNet's first sense may miss.
COLOR_LEXICON: frozenset[str] = frozenset(
    """
    red green blue yellow orange purple violet pink brown black white grey gray cyan magenta
    teal turquoise beige maroon crimson scarlet indigo ochre mauve fuchsia aqua azure
    vermilion chartreuse dark bright colorful colourful color colour colors colours colored
    coloured pastel neon fluorescent monochrome monochromatic sepia greyscale grayscale
    rainbow multicolored multicoloured
    """.split()
)

#: Texture and pattern words (visual surface properties).
TEXTURE_LEXICON: frozenset[str] = frozenset(
    """
    texture textures textured striped stripe stripes dotted dots polka checkered checker
    checked plaid tartan woven weave knitted knit lace lacy embroidered quilted fluffy furry
    hairy fuzzy shaggy scaly wrinkled crinkled rough smooth glossy matte shiny grainy
    gradient grid lattice mesh honeycomb spiral swirl zigzag geometric pattern patterns
    patterned mosaic marbled speckled spotted perforated braided corrugated ribbed fibrous
    """.split()
)

#: Anchor synsets for proper nouns (instances) that are places.
_PLACE_INSTANCE_ANCHORS = (
    "location.n.01",
    "region.n.03",
    "geographic_area.n.01",
    "structure.n.01",
    "body_of_water.n.01",
    "geological_formation.n.01",
    "administrative_district.n.01",
)

#: (category, anchor synsets), first match wins.
_NOUN_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("colors", ("color.n.01",)),
    # people before organisms: the curated map files roles (chef, tourists) under activities
    ("activities", ("person.n.01",)),
    (
        "natural elements and organisms",
        (
            "organism.n.01",
            "plant_part.n.01",
            "produce.n.01",
            "animal.n.01",
            "plant.n.02",
            "body_part.n.01",
            "natural_object.n.01",
            "body_of_water.n.01",
            "geological_formation.n.01",
            "natural_phenomenon.n.01",
            "natural_elevation.n.01",
        ),
    ),
    # prepared food and drinks are things (the curated map files coffee, bread there)
    ("objects and machines", ("food.n.01", "food.n.02", "beverage.n.01")),
    (
        "textures and materials",
        (
            "material.n.01",
            "fabric.n.01",
            "substance.n.01",
            "substance.n.07",
            "texture.n.01",
            "texture.n.05",
            "design.n.04",
        ),
    ),
    (
        "places and buildings",
        (
            "structure.n.01",
            "building.n.01",
            "facility.n.01",
            "way.n.06",
            "location.n.01",
            "region.n.03",
            "geographic_area.n.01",
        ),
    ),
    (
        "objects and machines",
        (
            "artifact.n.01",
            "instrumentality.n.03",
            "device.n.01",
            "vehicle.n.01",
            "machine.n.01",
            "whole.n.02",
            "object.n.01",
        ),
    ),
    ("activities", ("act.n.02", "activity.n.01", "event.n.01", "sport.n.01")),
    (
        "abstract",
        (
            "abstraction.n.06",
            "attribute.n.02",
            "psychological_feature.n.01",
            "communication.n.02",
            "group.n.01",
        ),
    ),
)

#: The lexicographer file names of WordNet 3.0, for installs (Debian) that omit ``lexnames``.
_LEXNAMES = (
    "adj.all adj.pert adv.all noun.Tops noun.act noun.animal noun.artifact noun.attribute "
    "noun.body noun.cognition noun.communication noun.event noun.feeling noun.food noun.group "
    "noun.location noun.motive noun.object noun.person noun.phenomenon noun.plant "
    "noun.possession noun.process noun.quantity noun.relation noun.shape noun.state "
    "noun.substance noun.time verb.body verb.change verb.cognition verb.communication "
    "verb.competition verb.consumption verb.contact verb.creation verb.emotion verb.motion "
    "verb.perception verb.possession verb.social verb.stative verb.weather adj.ppl"
).split()
_POS_NUMBER = {"noun": 1, "verb": 2, "adj": 3, "adv": 4}

WORDNET_HINT = (
    "Install the WordNet database with `apt-get install wordnet-base` (it provides "
    "/usr/share/wordnet), or point WORDNET_DIR at a WordNet 3.0 dict folder, or set "
    "categories.automatic: none in the config to skip the automatic categoriser."
)


def _wordnet_candidates(wordnet_dir: str | Path | None) -> list[Path]:
    candidates = []
    if wordnet_dir:
        candidates.append(Path(wordnet_dir))
    if os.environ.get("WORDNET_DIR"):
        candidates.append(Path(os.environ["WORDNET_DIR"]))
    candidates.append(Path("/usr/share/wordnet"))
    for root in os.environ.get("NLTK_DATA", "").split(os.pathsep) + [
        str(Path.home() / "nltk_data"),
        "/usr/share/nltk_data",
    ]:
        if root:
            candidates.append(Path(root) / "corpora" / "wordnet")
    return candidates


def find_wordnet(wordnet_dir: str | Path | None = None) -> Path:
    """The first WordNet dict folder found (see the module docstring), or a ConfigError."""
    tried = _wordnet_candidates(wordnet_dir)
    for folder in tried:
        if (folder / "data.noun").is_file() and (folder / "index.noun").is_file():
            return folder.resolve()
    raise ConfigError(
        "The WordNet database needed by the automatic concept categoriser "
        f"(categories.automatic: wordnet) was not found; looked in {[str(p) for p in tried]}.",
        WORDNET_HINT,
    )


@functools.lru_cache(maxsize=4)
def _reader(folder: str) -> Any:
    """An nltk WordNetCorpusReader on ``folder`` (adds a ``lexnames`` file if it lacks one)."""
    import warnings

    import nltk.data
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    root = Path(folder)
    if not (root / "lexnames").is_file():
        # nltk refuses symlinks and hard links (possible root escapes), so the files (28 MB)
        # are copied into a private folder that is removed when the process exits.
        shim = Path(tempfile.mkdtemp(prefix="vitconcepts-wordnet-"))
        atexit.register(shutil.rmtree, shim, True)
        for item in sorted(root.iterdir()):
            if item.is_file():
                shutil.copyfile(item, shim / item.name)
        lines = []
        for number, name in enumerate(_LEXNAMES):
            lines.append(f"{number:02d}\t{name}\t{_POS_NUMBER[name.split('.')[0]]}\n")
        (shim / "lexnames").write_text("".join(lines))
        root = shim
    # nltk only opens corpora under its data path: authorise the folders explicitly.
    for allowed in {str(Path(folder)), str(root)}:
        if allowed not in nltk.data.path:
            nltk.data.path.append(allowed)

    class OfflineWordNet(WordNetCorpusReader):
        """nltk's reader minus the mapping to the nltk_data 'wordnet' corpus (not installed)."""

        def map_wn(self, version: str = "wordnet") -> None:
            return None

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return OfflineWordNet(str(root), None)


class WordNetCategoriser:
    """Map a concept to one of :data:`CATEGORIES` with a lexicon and WordNet hypernyms."""

    def __init__(self, wordnet_dir: str | Path | None = None):
        self.folder = find_wordnet(wordnet_dir)
        self.wn = _reader(str(self.folder))
        self._anchors = {name: self.wn.synset(name) for _, names in _NOUN_RULES for name in names}
        self._place_anchors = {self.wn.synset(name) for name in _PLACE_INSTANCE_ANCHORS}
        self._physical = self.wn.synset("physical_entity.n.01")

    def _synsets(self, word: str) -> list[Any]:
        key = "_".join(word.strip().lower().replace("-", " ").split())
        synsets = self.wn.synsets(key) if key else []
        if not synsets and "_" in key:
            synsets = self.wn.synsets(key.rsplit("_", 1)[1])
        return synsets

    @staticmethod
    def _closure(synset: Any) -> set[Any]:
        ancestors = {synset}
        frontier = [synset]
        while frontier:
            current = frontier.pop()
            for parent in current.hypernyms() + current.instance_hypernyms():
                if parent not in ancestors:
                    ancestors.add(parent)
                    frontier.append(parent)
        return ancestors

    def _noun_category(self, synset: Any) -> str:
        ancestors = self._closure(synset)
        if synset.instance_hypernyms():
            if ancestors & self._place_anchors:
                return "places and buildings"
            return "names"
        for category, names in _NOUN_RULES:
            if any(self._anchors[name] in ancestors for name in names):
                return category
        return "abstract"

    def _adjective_category(self, synset: Any) -> str:
        color = self._anchors["color.n.01"]
        for attribute in synset.attributes():
            if color in self._closure(attribute):
                return "colors"
        for head in synset.similar_tos():
            for attribute in head.attributes():
                if color in self._closure(attribute):
                    return "colors"
        for lemma in synset.lemmas():
            for pertainym in lemma.pertainyms():
                if pertainym.synset().pos() == "n":
                    return self._noun_category(pertainym.synset())
        return "abstract"

    def categorise(self, word: str) -> tuple[str, str]:
        """``(category, source)`` for one concept; source is lexicon, wordnet or default."""
        key = word.strip().lower()
        if key in COLOR_LEXICON:
            return "colors", "lexicon"
        if key in TEXTURE_LEXICON:
            return "textures and materials", "lexicon"
        synsets = self._synsets(word)
        if not synsets:
            return "unknown", "default"
        nouns = [s for s in synsets if s.pos() == "n"]
        if nouns:
            # Concepts label visual features: take the most frequent *physical* sense (e.g.
            # barrel the container, not the unit), else the most frequent sense.
            concrete = [s for s in nouns if self._physical in self._closure(s)]
            return self._noun_category((concrete or nouns)[0]), "wordnet"
        first = synsets[0]
        if first.pos() == "v":
            # gerunds name activities (kayaking); other verb forms describe states (locked)
            return ("activities" if key.endswith("ing") else "abstract"), "wordnet"
        if first.pos() in ("a", "s"):
            return self._adjective_category(first), "wordnet"
        return "abstract", "wordnet"


def load_curated(curated_json: str | Path) -> dict[str, str]:
    """Read the authors' ``{category: [words]}`` map into ``{word: category}``.

    Raises :class:`InputDataError` for a missing/invalid file, an unknown category or a word
    listed under two categories.
    """
    path = Path(curated_json)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError as error:
        raise InputDataError(
            f"Curated category map {path} does not exist.",
            "Run fetch_category_map, or set categories.curated: false.",
        ) from error
    except json.JSONDecodeError as error:
        raise InputDataError(
            f"Curated category map {path} is not valid JSON ({error}).",
            "Fetch it again (its sha256 is in config.yaml under published.categories).",
        ) from error
    if not isinstance(data, dict):
        raise InputDataError(f"Curated category map {path} is not a JSON object.")
    unknown = sorted(set(data) - set(CATEGORIES))
    if unknown:
        raise InputDataError(
            f"Curated category map {path} has unknown categories {unknown}.",
            f"Use only {list(CATEGORIES)}.",
        )
    mapping: dict[str, str] = {}
    for category in CATEGORIES:
        for word in data.get(category, []):
            if word in mapping and mapping[word] != category:
                raise InputDataError(
                    f"Curated category map {path} lists {word!r} under both "
                    f"{mapping[word]!r} and {category!r}.",
                    "Keep each word in one category.",
                )
            mapping[word] = category
    return mapping


def _automatic(automatic: str | None) -> WordNetCategoriser | None:
    if automatic in (None, "none"):
        return None
    if automatic != "wordnet":
        raise ConfigError(
            f"categories.automatic is {automatic!r}.", f"Use one of {list(AUTOMATIC)}."
        )
    return WordNetCategoriser()


def categorise_words(
    words: Iterable[str],
    curated: Mapping[str, str] | None = None,
    automatic: str | None = "wordnet",
) -> pd.DataFrame:
    """Categorise ``words``: curated map first, then the automatic categoriser.

    Returns columns ``concept, category, source`` in input order. With ``automatic="none"``
    words missing from the curated map get ``unknown`` / ``default``.
    """
    categoriser = None
    rows = []
    for word in words:
        if curated is not None and word in curated:
            rows.append((word, curated[word], "curated"))
            continue
        if categoriser is None and automatic not in (None, "none"):
            categoriser = _automatic(automatic)
        if categoriser is None:
            _automatic(automatic)  # validates the name
            rows.append((word, "unknown", "default"))
        else:
            rows.append((word, *categoriser.categorise(word)))
    return pd.DataFrame(rows, columns=["concept", "category", "source"])


def categorise_concepts(
    concepts_txt: str | Path,
    curated_json: str | Path | None,
    out_csv: str | Path,
    automatic: str | None = "wordnet",
) -> pd.DataFrame:
    """Write ``concept, category, source`` for every concept of ``concepts_txt``.

    ``curated_json`` (the authors' map, or None) decides where it has the concept; the rest go
    to ``automatic`` (``"wordnet"`` or ``"none"``). Rows keep the concept file's order.
    """
    curated = load_curated(curated_json) if curated_json else None
    table = categorise_words(read_concepts(concepts_txt), curated, automatic)
    out = Path(out_csv)
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out, index=False, lineterminator="\n")
    return table


def categoriser_agreement(
    curated_json: str | Path,
    out_csv: str | Path | None = None,
    wordnet_dir: str | Path | None = None,
) -> pd.DataFrame:
    """How well the automatic categoriser reproduces the curated map.

    Runs :class:`WordNetCategoriser` on every curated word and reports, per curated category,
    ``n`` (curated words), ``n_predicted`` (words the categoriser put there), ``correct``,
    ``recall``, ``precision`` and ``f1``; a last row ``overall`` gives the totals with
    ``recall = precision = f1 = accuracy``. Columns:
    ``category, n, n_predicted, correct, recall, precision, f1``.
    """
    curated = load_curated(curated_json)
    categoriser = WordNetCategoriser(wordnet_dir)
    words = sorted(curated)
    predicted = {word: categoriser.categorise(word)[0] for word in words}
    rows = []
    for category in CATEGORIES:
        truth = {w for w in words if curated[w] == category}
        guess = {w for w in words if predicted[w] == category}
        correct = len(truth & guess)
        recall = correct / len(truth) if truth else 0.0
        precision = correct / len(guess) if guess else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        rows.append((category, len(truth), len(guess), correct, recall, precision, f1))
    correct = sum(predicted[w] == curated[w] for w in words)
    accuracy = correct / len(words) if words else 0.0
    rows.append(("overall", len(words), len(words), correct, accuracy, accuracy, accuracy))
    columns = ["category", "n", "n_predicted", "correct", "recall", "precision", "f1"]
    table = pd.DataFrame(rows, columns=columns)
    if out_csv is not None:
        out = Path(out_csv)
        out.parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(out, index=False, lineterminator="\n")
    return table
