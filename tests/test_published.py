"""Tests of vitconcepts.published.fetch_published: local folders and a local HTTP server."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from vitconcepts.errors import InputDataError
from vitconcepts.published import fetch_published

REPO = Path(__file__).resolve().parents[1]
REFERENCE = REPO.parent / "shared" / "paper-reference"
CONTENT = b"layer,unit,description,similarity,images\nl0,0,red,0.5,[1 2 3 4 5]\n"
SHA = hashlib.sha256(CONTENT).hexdigest()


@pytest.fixture
def server() -> Iterator[tuple[str, list[str]]]:
    """Serve CONTENT at /results/vit.csv on 127.0.0.1; yields (base_url, requested paths)."""
    requested: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server API)
            requested.append(self.path)
            if self.path == "/repo/results/vit.csv":
                self.send_response(200)
                self.send_header("Content-Length", str(len(CONTENT)))
                self.end_headers()
                self.wfile.write(CONTENT)
            else:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/repo", requested
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.parametrize("layout", ["repo", "flat"])
def test_local_dir(tmp_path: Path, layout: str) -> None:
    source = tmp_path / "src" / ("results/vit.csv" if layout == "repo" else "vit.csv")
    source.parent.mkdir(parents=True)
    source.write_bytes(CONTENT)
    out = tmp_path / "out" / "vit.csv"
    got = fetch_published("results/vit.csv", SHA, None, tmp_path / "src", out)
    assert got == out and out.read_bytes() == CONTENT


def test_local_dir_entry_form(tmp_path: Path) -> None:
    (tmp_path / "vit.csv").write_bytes(CONTENT)
    out = tmp_path / "out.csv"
    entry = {"path": "results/vit.csv", "sha256": SHA}
    fetch_published(entry, base_url="http://unused", local_dir=tmp_path, out=out)
    assert out.read_bytes() == CONTENT


def test_local_dir_mismatch_and_missing(tmp_path: Path) -> None:
    (tmp_path / "vit.csv").write_bytes(CONTENT)
    out = tmp_path / "out" / "vit.csv"
    with pytest.raises(InputDataError, match="published_labels") as error:
        fetch_published("results/vit.csv", "0" * 64, None, tmp_path, out)
    assert SHA in str(error.value)
    assert not out.exists()
    with pytest.raises(InputDataError, match="published_labels"):
        fetch_published("results/mae.csv", None, None, tmp_path, out)


def test_reference_folder_matches_config(tmp_path: Path) -> None:
    if not (REFERENCE / "vit.csv").is_file():
        pytest.skip(f"authors' reference files not found at {REFERENCE}")
    config = yaml.safe_load((REPO / "config.yaml").read_text())["published"]
    for entry in (config["labels"]["vit"], config["categories"]):
        out = tmp_path / Path(entry["path"]).name
        fetch_published(entry, local_dir=REFERENCE, out=out, base_url=config["base_url"])
        assert out.stat().st_size > 0


def test_http_download(tmp_path: Path, server: tuple[str, list[str]]) -> None:
    base_url, requested = server
    out = tmp_path / "vit.csv"
    fetch_published("results/vit.csv", SHA, base_url, None, out)
    assert out.read_bytes() == CONTENT
    assert requested == ["/repo/results/vit.csv"]


def test_http_errors(tmp_path: Path, server: tuple[str, list[str]]) -> None:
    base_url, _ = server
    with pytest.raises(InputDataError, match="published_labels"):
        fetch_published("results/vit.csv", "0" * 64, base_url, None, tmp_path / "a.csv")
    assert not (tmp_path / "a.csv").exists()
    with pytest.raises(InputDataError, match="404"):
        fetch_published("results/absent.csv", None, base_url, None, tmp_path / "b.csv")
