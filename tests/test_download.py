"""Tests for fetch_url and download_model against local fake servers (no internet)."""

from __future__ import annotations

import hashlib
import io
import json
import re

import pytest
import torch
from safetensors.torch import save

from vitconcepts.download import download_model, fetch_url
from vitconcepts.errors import ConfigError, InputDataError

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- fetch_url -------------------------------------------------------------------------------
def test_fetch_url_downloads_verifies_and_skips(http_server, tmp_path):
    body = b"hello broden" * 1000
    http_server.routes["/data.zip"] = (200, {}, body)
    dest = tmp_path / "sub" / "data.zip"
    assert fetch_url(f"{http_server.url}/data.zip", dest, sha256=_sha(body)) == _sha(body)
    assert dest.read_bytes() == body
    assert not (tmp_path / "sub" / "data.zip.part").exists()
    n_requests = len(http_server.requests)
    fetch_url(f"{http_server.url}/data.zip", dest, sha256=_sha(body))  # present: no request
    assert len(http_server.requests) == n_requests


def test_fetch_url_checksum_mismatch(http_server, tmp_path):
    http_server.routes["/f.txt"] = (200, {}, b"changed content")
    dest = tmp_path / "f.txt"
    with pytest.raises(InputDataError) as info:
        fetch_url(f"{http_server.url}/f.txt", dest, sha256="ab" * 32)
    message = str(info.value)
    assert f"{http_server.url}/f.txt" in message
    assert "ab" * 32 in message and _sha(b"changed content") in message
    assert not dest.exists() and not (tmp_path / "f.txt.part").exists()


def test_fetch_url_404_and_unreachable(http_server, closed_port_url, tmp_path):
    with pytest.raises(InputDataError, match=r"missing\.zip.*HTTP 404"):
        fetch_url(f"{http_server.url}/missing.zip", tmp_path / "m.zip")
    url = f"{closed_port_url}/x.zip"
    with pytest.raises(InputDataError) as info:
        fetch_url(url, tmp_path / "x.zip")
    assert url in str(info.value) and "Fix:" in str(info.value)


# -- download_model (fake Hugging Face hub) --------------------------------------------------
def _fake_hub(server, repo: str, files: dict[str, bytes]) -> None:
    """Serve ``files`` of ``repo`` the way the hub API answers huggingface_hub."""

    def handler(method: str, path: str):
        if path == f"/api/models/{repo}/revision/main":
            info = {"id": repo, "sha": COMMIT, "siblings": [{"rfilename": f} for f in files]}
            return 200, {"Content-Type": "application/json"}, json.dumps(info).encode()
        if path == f"/api/models/{repo}/tree/{COMMIT}":
            tree = [
                {"type": "file", "path": f, "size": len(b), "oid": hashlib.sha1(b).hexdigest()}
                for f, b in files.items()
            ]
            return 200, {"Content-Type": "application/json"}, json.dumps(tree).encode()
        match = re.fullmatch(rf"/{re.escape(repo)}/resolve/([^/]+)/(.+)", path)
        if match and match.group(2) in files:
            body = files[match.group(2)]
            headers = {"X-Repo-Commit": COMMIT, "ETag": f'"{_sha(body)}"'}
            return 200, headers, body
        return None

    server.handler = handler


def _tiny_safetensors() -> bytes:
    return save({"weight": torch.arange(6, dtype=torch.float32).reshape(2, 3)})


@pytest.fixture
def hub_env(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
    return tmp_path


def test_download_model_from_fake_hub(http_server, hub_env, monkeypatch):
    weights = _tiny_safetensors()
    config = json.dumps({"architecture": "vit_tiny_patch16_224"}).encode()
    _fake_hub(
        http_server,
        "timm/tiny_test.fake",
        {"model.safetensors": weights, "config.json": config, "README.md": b"x"},
    )
    monkeypatch.setenv("HF_ENDPOINT", http_server.url)
    entry = {"source": "timm", "weights": "tiny_test.fake", "arch": "vit"}
    out = hub_env / "resources" / "models" / "tiny"
    manifest_path = download_model("tiny", entry, out)
    manifest = json.loads(manifest_path.read_text())
    assert manifest["model"] == "tiny" and manifest["repo_id"] == "timm/tiny_test.fake"
    assert manifest["weights_file"] == "model.safetensors"
    assert manifest["weights_sha256"] == _sha(weights)
    assert manifest["files"] == {"config.json": _sha(config), "model.safetensors": _sha(weights)}
    assert (out / "model.safetensors").read_bytes() == weights
    # the hub cache lives under HF_HOME
    assert any((hub_env / "hf_home" / "hub").rglob("model.safetensors"))

    # offline with a filled cache works without the server
    http_server.handler = None
    n_requests = len(http_server.requests)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    again = json.loads(download_model("tiny", entry, hub_env / "again").read_text())
    assert again["weights_sha256"] == _sha(weights)
    assert len(http_server.requests) == n_requests


def test_download_model_unreachable_hub_is_clear(hub_env, closed_port_url, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", closed_port_url)
    entry = {"source": "timm", "weights": "vit_base_patch16_224.orig_in21k"}
    with pytest.raises(InputDataError) as info:
        download_model("vit", entry, hub_env / "out")
    message = str(info.value)
    for needle in (
        "models.vit",
        "timm/vit_base_patch16_224.orig_in21k",
        "HF_ENDPOINT",
        "HF_HUB_OFFLINE",
        closed_port_url,
    ):
        assert needle in message, needle


def test_download_model_missing_repo(http_server, hub_env, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", http_server.url)  # serves 404 for everything
    entry = {"source": "transformers", "weights": "someone/no-such-model"}
    with pytest.raises(InputDataError, match="someone/no-such-model"):
        download_model("vit_cub", entry, hub_env / "out")


def test_download_model_random_init_and_bad_source(tmp_path):
    path = download_model("t", {"source": "timm", "weights": "x", "pretrained": False}, tmp_path)
    manifest = json.loads(path.read_text())
    assert manifest["files"] == {} and manifest["weights_sha256"] is None
    control = {"source": "transformers", "weights": "google/vit-base-patch16-224-in21k"}
    path = download_model("vit_random", {**control, "random_init": True}, tmp_path / "c")
    assert json.loads(path.read_text())["repo_id"] is None  # a control fetches nothing
    with pytest.raises(ConfigError, match=r"models\.t\.source.*timm, transformers"):
        download_model("t", {"source": "torchhub", "weights": "x"}, tmp_path)


def test_transformers_repo_files_and_bin_fallback(http_server, hub_env, monkeypatch):
    buffer = io.BytesIO()
    torch.save({"w": torch.ones(2)}, buffer)
    files = {"config.json": b'{"model_type": "vit"}', "pytorch_model.bin": buffer.getvalue()}
    _fake_hub(http_server, "someone/vit-cub", files)
    monkeypatch.setenv("HF_ENDPOINT", http_server.url)
    manifest = json.loads(
        download_model(
            "vit_cub", {"source": "transformers", "weights": "someone/vit-cub"}, hub_env / "out"
        ).read_text()
    )
    assert manifest["weights_file"] == "pytorch_model.bin"
    assert set(manifest["files"]) == {"config.json", "pytorch_model.bin"}


def test_paper_transformers_checkpoint_downloads_what_the_loader_needs(
    http_server, hub_env, monkeypatch, tmp_path
):
    """A repo laid out like facebook/vit-mae-base (config, preprocessor config, safetensors,
    plus TF/Flax files) downloads to a folder load_model builds the authors' model from."""
    from PIL import Image

    from vitconcepts.models import build_transform, load_model, resolve_model_spec

    tiny = {
        "model_type": "vit_mae",
        "hidden_size": 32,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "intermediate_size": 64,
        "image_size": 32,
        "patch_size": 8,
        "decoder_hidden_size": 16,
        "decoder_num_hidden_layers": 1,
        "decoder_num_attention_heads": 2,
        "decoder_intermediate_size": 32,
    }
    entry = {"source": "transformers", "arch": "vit", "input_size": 32, "mask_ratio": 0.75}
    source = load_model(
        resolve_model_spec("mae", {**entry, "weights": "x", "pretrained": False, "hf_config": tiny})
    )
    saved = tmp_path / "saved"
    source.save_pretrained(saved)
    processor = {"image_processor_type": "ViTImageProcessor", "size": {"height": 32, "width": 32}}
    files = {
        "config.json": (saved / "config.json").read_bytes(),
        "model.safetensors": (saved / "model.safetensors").read_bytes(),
        "preprocessor_config.json": json.dumps(processor).encode(),
        "tf_model.h5": b"not needed",
        "flax_model.msgpack": b"not needed",
        "README.md": b"x",
    }
    _fake_hub(http_server, "facebook/vit-mae-base", files)
    monkeypatch.setenv("HF_ENDPOINT", http_server.url)
    entry["weights"] = "facebook/vit-mae-base"
    manifest_path = download_model("mae", entry, hub_env / "mae")
    manifest = json.loads(manifest_path.read_text())
    assert set(manifest["files"]) == {
        "config.json",
        "model.safetensors",
        "preprocessor_config.json",
    }
    assert manifest["weights_file"] == "model.safetensors"

    spec = resolve_model_spec("mae", entry)
    model = load_model(spec, manifest_path)
    assert type(model).__name__ == "ViTMAEForPreTraining" and model.config.mask_ratio == 0.75
    for name, value in source.state_dict().items():
        torch.testing.assert_close(model.state_dict()[name], value, msg=name)
    native = resolve_model_spec("mae", {**entry, "preprocessing": "native"})
    image = Image.new("RGB", (48, 40), (200, 10, 10))
    assert build_transform(native, model)(image).shape == (3, 32, 32)
