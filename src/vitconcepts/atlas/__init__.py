"""The unit atlas: a static, self-contained website of every labelled unit.

``atlas/{probe}/`` (``atlas/published/`` for the authors' labels) holds

* ``index.html``: one row per page (model and unit kind), linking to it, and a concept search
  over every page ("which units encode dog?", data in ``data/index.js``) whose results link
  to the cards (``vit.html#layer=3&q=dog&unit=17`` opens the page filtered, the card of unit
  17 scrolled into view and outlined);
* ``{model}.html``: the model's page (``{model}.{kind}.html`` for an extra unit kind, e.g.
  ``vit.mlp.html``). Layers are sections; each unit is a card with its label,
  score, category, the next best concepts with their scores (from ``{model}_topk.nc``) and its
  top-activating probe images as thumbnails. Filters by layer, category and label text; the
  model's per-layer summary figure (``paper/figures/appendix_{model}.png``) and a per-layer
  table at the top;
* ``data/{model}.js``: the model's data, one JSON blob assigned to ``window.ATLAS_DATA``
  (loaded with ``<script src>``: browsers block ``fetch()`` of ``file://`` URLs);
* ``thumbs/{sample}.jpg``: one small JPEG per probe image that is a top image of any unit,
  made once for all models (:func:`make_thumbnails`);
* ``figures/{model}.png``: the copied summary figure.

Everything opens from the file system: no server, no network, no CDN; the page's CSS and
JavaScript are inline. Pages stay usable with 9,216 units: cards are rendered in chunks as
the reader scrolls (an IntersectionObserver on a sentinel below the cards), thumbnails load
lazily (``loading="lazy"``). The page state lives in the URL hash, so a filtered view can be
linked and tested: ``vit.html#layer=3&category=colors&q=green``; ``reliable=1`` keeps the units
with q < :data:`RELIABLE_Q` and held-out AUPRC >= :data:`RELIABLE_AUPRC_RATIO` x its chance
level (pages with a
reliability file; others show the filter disabled with a note); ``unit=U`` marks unit U's
card; ``all=1`` renders every matching card at once with eager images.

The page reports its own state in a hidden element ``#atlas-status`` (``data-total``,
``data-matching``, ``data-rendered``, ``data-first-ms`` = ``performance.now()`` when the first
cards were laid out, ``data-errors`` and the messages of script/console errors,
``data-hash`` the normalised URL hash, ``data-focus`` the row of the marked card (-1: none)
and ``data-focus-ms`` when it showed, ``data-reliable``, ``data-broken`` images with
``naturalWidth == 0``, ``data-images-done``),
which headless Chromium's ``--dump-dom`` returns (the tests read it so). The index page reports
``data-matching`` (units found) and ``data-pages`` the same way.

The package by stage: :mod:`~vitconcepts.atlas.data` (a model page's data from the label,
top-k and category files), :mod:`~vitconcepts.atlas.pages` (the HTML pages; their CSS and
JavaScript are the files in ``atlas/assets/``) and :mod:`~vitconcepts.atlas.thumbnails`.
"""

from vitconcepts.atlas.data import (
    N_NEXT,
    RELIABLE_AUPRC_RATIO,
    RELIABLE_Q,
    model_data,
    top_image_samples,
)
from vitconcepts.atlas.pages import build_index, build_model_page, model_page_html
from vitconcepts.atlas.search import AtlasPage, search_index
from vitconcepts.atlas.thumbnails import THUMB_PX, THUMB_QUALITY, make_thumbnails

__all__ = [
    "N_NEXT",
    "RELIABLE_Q",
    "RELIABLE_AUPRC_RATIO",
    "THUMB_PX",
    "THUMB_QUALITY",
    "AtlasPage",
    "build_index",
    "build_model_page",
    "make_thumbnails",
    "model_data",
    "model_page_html",
    "search_index",
    "top_image_samples",
]
