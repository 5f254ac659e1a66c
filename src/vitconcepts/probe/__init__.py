"""The probe set: an ordered, hashed index of images, and a Dataset reading it.

The order reproduces the authors' ``ConcatDataset([ImageFolder(imagenet_val),
ImageFolder(broden1_224)])``: parts in config order, each part ordered exactly like
torchvision's ``ImageFolder`` (sorted class folders; inside each, ``sorted(os.walk(...,
followlinks=True))`` and sorted file names; torchvision's ``IMG_EXTENSIONS``), so sample
indices match theirs.

Part kinds (``parts`` entries of ``config["probes"][probe]``, read in :mod:`._parts`):

* ``imagenet_val {path}``: an ImageNet validation folder with one sub-folder per class.
* ``broden {url, sha256?, include_masks=false, path?}``: the Broden zip is downloaded into
  ``work_dir`` and unpacked; ``broden1_224/`` is indexed in ImageFolder order. By default only
  the ``.jpg`` photos are kept: the authors' published labels index 113,305 probe images,
  ImageNet-val's 50,000 followed by Broden's 63,305 photos. ``include_masks: true`` also
  indexes the ``.png`` segmentation masks. ``path`` may point at an unpacked
  ``broden1_224`` folder instead of downloading.
* ``cifar100_test {url?, sha256?}``: the CIFAR-100 python tarball; the test images are written
  as PNGs in dataset order.
* ``image_folder {path}``: any ImageFolder tree, or a flat folder of images (sorted names).
* ``synthetic {n, size, seed}``: generated pattern images (the tiny offline config).
* ``synthetic_broden {n, size, seed}``: a generated Broden-format folder with planted
  annotations (:func:`vitconcepts.synthetic.make_synthetic_broden`), indexed like a Broden
  part (photos only); the tiny config's ground-truth rules read its annotations.

Every part takes ``exif_transpose`` (default false). Like torchvision's ``ImageFolder``, the
paper's probe ignores EXIF orientation tags (ImageNet and Broden images are stored upright);
``exif_transpose: true`` rotates/flips each image of that part as its EXIF tag says (phone
photos in a user folder).

Images are decoded by :func:`load_rgb` everywhere (index check, activations, CLIP embeddings,
image complexity, figures), which converts every PIL mode to 8-bit RGB by scaling, not
clipping (see :func:`to_rgb`; :mod:`._decode`). The index is built in :mod:`._index`; its
CSV is read and written by :mod:`vitconcepts.formats`. The workflow's parse-time checks of
the part folders and their fingerprints (params of prepare_probe) are in
rules/plan_inputs.py: the workflow parses without this package.
"""

from ._decode import decode_image, load_rgb, to_rgb
from ._index import (
    BAD_IMAGES_FILE,
    ProbeDataset,
    build_probe_index,
    check_images,
    exif_flags,
    hash_samples,
    load_index_meta,
)
from ._parts import CIFAR100_URL, IMG_EXTENSIONS, PART_KINDS, PART_READERS, image_folder_files

__all__ = [
    "BAD_IMAGES_FILE",
    "CIFAR100_URL",
    "IMG_EXTENSIONS",
    "PART_KINDS",
    "PART_READERS",
    "ProbeDataset",
    "build_probe_index",
    "check_images",
    "decode_image",
    "exif_flags",
    "hash_samples",
    "image_folder_files",
    "load_index_meta",
    "load_rgb",
    "to_rgb",
]
