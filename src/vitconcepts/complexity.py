"""Image complexity of the top-activating images of each layer (paper Fig. 5).

The authors scored every probe image with a learned complexity model (IC9600/ICNet) and, per
layer, averaged the scores of the 5 top-activating images of every unit (duplicates counted
as often as they occur; all units of the layer, not only well-labelled ones). We follow that
aggregation; the per-image measure needs no download:

* ``compression`` (default): bits per pixel of the losslessly PNG-compressed (zlib level 9)
  greyscale image resized to 224x224 (bicubic). Flat images compress to almost nothing,
  noise to about 8 bits per pixel; natural photos lie in between.
* ``edges``: Canny edge density (scikit-image, ``sigma=2``) of the same 224x224 greyscale
  image, the fraction of pixels on an edge (0-1).
* ``learned``: a learned model such as the authors' ICNet (IC9600), supplied by the user as
  ``complexity.scorer: "module:function"`` (an importable module) or
  ``"path/to/file.py:function"`` (a file, relative to the working directory). The function
  takes a batch, a list of RGB images as ``numpy.uint8`` arrays of shape ``(H, W, 3)`` at
  their stored size (the scorer resizes/normalises as its model needs), and returns one
  float per image, higher = more complex; batches hold up to ``complexity.batch_size``
  images. A scorer may load its weights on first call (cache them in a module global). No
  weights are bundled; without a scorer, ``measure: learned`` is a ConfigError.

Example (``my_ic.py``)::

    import numpy as np

    def score(images: list[np.ndarray]) -> list[float]:
        return [float(image.std()) for image in images]   # stand-in: pixel spread
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError

from .errors import ConfigError, InputDataError
from .formats import parse_images, read_labels, read_probe_index

SIZE = 224
LEARNED_NEEDS_SCORER = (
    "complexity.measure is 'learned' but no learned complexity model is configured "
    "(complexity.scorer is empty; vitconcepts bundles no weights)."
)
LEARNED_HINT = (
    "set complexity.scorer: my_module:score (a function taking a list of uint8 RGB arrays "
    "and returning one float each, e.g. wrapping IC9600/ICNet), or use "
    "complexity.measure: compression or edges."
)
MEASURES = ("compression", "edges", "learned")
CANNY_SIGMA = 2.0

PathLike = str | Path


def _grey(path: PathLike) -> Image.Image:
    """Open ``path`` as an 8-bit greyscale image resized to SIZE x SIZE (bicubic)."""
    from .probe import decode_image

    try:
        image = decode_image(path)  # the probe loader: 16-bit, alpha, palette, CMYK handled
        return image.convert("L").resize((SIZE, SIZE), Image.Resampling.BICUBIC)
    except (OSError, ValueError, UnidentifiedImageError) as error:
        raise InputDataError(
            f"Cannot read image {path} for the complexity measure ({error}); it decoded "
            "when prepare_probe indexed it, so it changed since.",
            "restore or replace the file, then add `--forcerun prepare_probe` at the end of "
            "your snakemake command.",
        ) from error


def _as_grey(image: Image.Image | PathLike) -> Image.Image:
    if isinstance(image, Image.Image):
        return image.convert("L").resize((SIZE, SIZE), Image.Resampling.BICUBIC)
    return _grey(image)


def compression_complexity(image: Image.Image | PathLike) -> float:
    """Bits per pixel of the PNG-compressed 224x224 greyscale image (0 to about 8+)."""
    grey = _as_grey(image)
    buffer = io.BytesIO()
    grey.save(buffer, format="PNG", optimize=False, compress_level=9)
    return 8.0 * buffer.tell() / (SIZE * SIZE)


def edge_complexity(image: Image.Image | PathLike) -> float:
    """Fraction of pixels on a Canny edge in the 224x224 greyscale image (0-1)."""
    from skimage.feature import canny

    grey = _as_grey(image)
    pixels = np.asarray(grey, dtype=np.float64) / 255.0
    return float(canny(pixels, sigma=CANNY_SIGMA).mean())


_MEASURE_FUNCTIONS: dict[str, Callable[[PathLike], float]] = {
    "compression": compression_complexity,
    "edges": edge_complexity,
}


def _read_index(index_csv: PathLike) -> dict[int, str]:
    """``{sample: path}`` of a probe index."""
    index = read_probe_index(index_csv)
    return dict(zip(index["sample"].astype(int), index["path"], strict=True))


def top_image_paths(
    index_csv: PathLike, samples: Iterable[int], label_csvs: Iterable[PathLike]
) -> dict[int, str]:
    """``{sample: path}`` of the top images ``samples`` that ``label_csvs`` name.

    Raises :class:`InputDataError` naming both files when the probe index lacks any of them.
    """
    samples = list(samples)
    index = _read_index(index_csv)
    absent = [s for s in samples if s not in index]
    if absent:
        raise InputDataError(
            f"{len(absent)} image sample(s) named in the label files "
            f"{', '.join(map(str, label_csvs))} are not in the probe index {index_csv} "
            f"({len(index)} images; e.g. {absent[:5]}).",
            "Use the probe index the labels were computed on (or label the models with this "
            "probe: rerun label_units).",
        )
    return {s: index[s] for s in samples}


#: A learned scorer: a batch of RGB uint8 arrays ``(H, W, 3)`` -> one float per image.
LearnedScorer = Callable[[list[np.ndarray]], Sequence[float]]


def load_scorer(spec: str) -> LearnedScorer:
    """Resolve ``complexity.scorer`` (``"module:function"`` or ``"file.py:function"``).

    Raises :class:`ConfigError` naming the key when the spec is malformed, the module or file
    cannot be imported, or the attribute is missing or not callable.
    """
    import importlib
    import importlib.util

    module_name, sep, attr = str(spec or "").rpartition(":")
    if not sep or not module_name or not attr:
        raise ConfigError(
            f"complexity.scorer is {spec!r}, not of the form 'module:function'.",
            "set complexity.scorer: my_package.my_module:score (importable) or "
            "path/to/my_ic.py:score.",
        )
    try:
        if module_name.endswith(".py"):
            path = Path(module_name)
            if not path.is_file():
                raise FileNotFoundError(f"no file {path.resolve()}")
            loader_spec = importlib.util.spec_from_file_location(f"_vc_scorer_{path.stem}", path)
            if loader_spec is None or loader_spec.loader is None:
                raise ImportError(f"cannot load {path}")
            module = importlib.util.module_from_spec(loader_spec)
            loader_spec.loader.exec_module(module)
        else:
            module = importlib.import_module(module_name)
    except Exception as error:  # the user's module: report whatever it raised
        raise ConfigError(
            f"complexity.scorer {spec!r}: cannot import {module_name!r} "
            f"({type(error).__name__}: {error}).",
            "make the module importable (PYTHONPATH or pip install), or give a .py file path "
            "relative to the working directory.",
        ) from error
    scorer = getattr(module, attr, None)
    if not callable(scorer):
        raise ConfigError(
            f"complexity.scorer {spec!r}: {module_name!r} has no function {attr!r}.",
            "name a function taking a list of uint8 RGB arrays and returning one float each.",
        )
    return scorer


def _rgb(path: str) -> np.ndarray:
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"), dtype=np.uint8)
    except (OSError, UnidentifiedImageError) as error:
        raise InputDataError(
            f"Cannot read image {path} for the complexity measure ({error}).",
            "Check the probe images (rerun prepare_probe).",
        ) from error


def score_learned(
    paths: Sequence[str], scorer: LearnedScorer | str, batch_size: int = 64
) -> list[float]:
    """Score images with a learned ``scorer`` (a callable or a ``complexity.scorer`` spec)."""
    if isinstance(scorer, str):
        scorer = load_scorer(scorer)
    values: list[float] = []
    for start in range(0, len(paths), max(1, batch_size)):
        batch = [_rgb(p) for p in paths[start : start + batch_size]]
        scores = [float(v) for v in np.asarray(scorer(batch), dtype=np.float64).reshape(-1)]
        if len(scores) != len(batch):
            raise InputDataError(
                f"complexity.scorer returned {len(scores)} value(s) for a batch of "
                f"{len(batch)} images.",
                "return exactly one float per image, in order.",
            )
        if not all(np.isfinite(scores)):
            raise InputDataError(
                "complexity.scorer returned a non-finite value in the batch starting at "
                f"{paths[start]}.",
                "return finite floats.",
            )
        values += scores
    return values


def _score_one(args: tuple[str, str]) -> float:
    measure, path = args
    return _MEASURE_FUNCTIONS[measure](path)


def score_images(
    paths: Mapping[int, str],
    measure: str = "compression",
    threads: int = 1,
    learned_scorer: LearnedScorer | str | None = None,
    batch_size: int = 64,
) -> dict[int, float]:
    """Complexity of every image in ``paths`` (``{sample: path}``), each computed once.

    ``learned_scorer`` (a callable or a ``"module:function"`` spec) is used by ``learned``.
    """
    if measure not in MEASURES:
        raise ConfigError(f"complexity.measure is {measure!r}.", f"Use one of {list(MEASURES)}.")
    samples = sorted(paths)
    if measure == "learned":
        if learned_scorer is None:
            raise ConfigError(LEARNED_NEEDS_SCORER, LEARNED_HINT)
        values = score_learned([paths[s] for s in samples], learned_scorer, batch_size)
        return dict(zip(samples, values, strict=True))
    jobs = [(measure, paths[sample]) for sample in samples]
    if threads > 1 and len(jobs) > 64:
        with ProcessPoolExecutor(max_workers=threads) as pool:
            values = list(pool.map(_score_one, jobs, chunksize=64))
    else:
        values = [_score_one(job) for job in jobs]
    return dict(zip(samples, values, strict=True))


def _load_cache(cache_csv: PathLike | None, measure: str) -> dict[int, float]:
    if cache_csv is None or not Path(cache_csv).is_file():
        return {}
    cache = pd.read_csv(cache_csv)
    cache = cache[cache["measure"] == measure]
    return dict(zip(cache["sample"].astype(int), cache["complexity"].astype(float), strict=True))


def _save_cache(cache_csv: PathLike | None, measure: str, scores: Mapping[int, float]) -> None:
    if cache_csv is None:
        return
    path = Path(cache_csv)
    old = (
        pd.read_csv(path)
        if path.is_file()
        else pd.DataFrame(columns=["sample", "measure", "complexity"])
    )
    old = old[old["measure"] != measure]
    new = pd.DataFrame(
        {
            "sample": sorted(scores),
            "measure": measure,
            "complexity": [scores[s] for s in sorted(scores)],
        }
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.concat([old, new], ignore_index=True).to_csv(path, index=False, lineterminator="\n")


def _layer_images(frame: pd.DataFrame) -> Iterable[tuple[int, list[int]]]:
    for layer, units in frame.groupby("layer_index", sort=True):
        samples: list[int] = []
        for cell in units["images"]:
            samples += parse_images(cell)
        yield int(layer), samples


def image_complexity(
    label_csvs: Mapping[str, PathLike],
    index_csv: PathLike,
    out_csv: PathLike | None = None,
    measure: str = "compression",
    threads: int = 1,
    cache_csv: PathLike | None = None,
    learned_scorer: LearnedScorer | str | None = None,
    batch_size: int = 64,
) -> pd.DataFrame:
    """Mean complexity of the units' top-activating images per model and layer.

    ``images`` cells of the label CSVs hold sample indices into ``index_csv`` (columns
    ``sample, sample_id, path, part``). Every (unit, image) pair counts once, as in the
    authors' notebook. Each image is scored once (optionally persisted in ``cache_csv``,
    columns ``sample, measure, complexity``). Returns/writes columns
    ``model, layer, complexity, n_images`` (``n_images`` = number of pairs averaged).
    ``learned_scorer``/``batch_size``: the scorer of ``measure="learned"`` (module docstring).
    """
    if measure not in MEASURES:
        raise ConfigError(f"complexity.measure is {measure!r}.", f"Use one of {list(MEASURES)}.")
    frames = {model: read_labels(csv) for model, csv in label_csvs.items()}
    layer_images = {model: list(_layer_images(frame)) for model, frame in frames.items()}
    needed = sorted({s for layers in layer_images.values() for _, ss in layers for s in ss})
    paths = top_image_paths(index_csv, needed, label_csvs.values())
    scores = _load_cache(cache_csv, measure)
    todo = {s: p for s, p in paths.items() if s not in scores}
    if todo:
        scores.update(score_images(todo, measure, threads, learned_scorer, batch_size))
        _save_cache(cache_csv, measure, scores)
    rows = []
    for model, layers in layer_images.items():
        for layer, samples in layers:
            value = float(np.mean([scores[s] for s in samples])) if samples else float("nan")
            rows.append((model, layer, value, len(samples)))
    table = pd.DataFrame(rows, columns=["model", "layer", "complexity", "n_images"])
    if out_csv is not None:
        out = Path(out_csv)
        out.parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(out, index=False, lineterminator="\n")
    return table
