"""Stage 4: image preprocessing (``paper`` or the model's ``native``)."""

from __future__ import annotations

from torch import nn

from ..constants import IMAGENET_MEAN, IMAGENET_STD
from ._spec import ModelSpec


def build_transform(spec: ModelSpec, model: nn.Module):
    """PIL image -> float tensor [3, H, W] for ``spec.preprocessing``.

    ``paper``: Resize(256) (scaled with input_size), CenterCrop(input_size), ToTensor,
    Normalize(ImageNet mean/std), the authors' preprocessing for every model. ``native``: the
    model's own (timm data config, or the transformers image processor).
    """
    from torchvision import transforms

    if spec.preprocessing == "paper":
        size = spec.input_size
        return transforms.Compose(
            [
                transforms.Resize(round(size * 256 / 224)),
                transforms.CenterCrop(size),
                transforms.ToTensor(),
                transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD),
            ]
        )
    if spec.source == "timm":
        import timm.data

        config = timm.data.resolve_data_config({}, model=model)
        return timm.data.create_transform(**config)
    from transformers import AutoImageProcessor

    processor = AutoImageProcessor.from_pretrained(model.config._name_or_path)

    def hf_transform(image):
        return processor(images=image.convert("RGB"), return_tensors="pt")["pixel_values"][0]

    return hf_transform
