"""Shared, generic fixtures: generated image folders and a local HTTP server."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def write_images(
    root: Path, classes: dict[str, int], size: int = 40, ext: str = ".png", seed: int = 0
) -> list[Path]:
    """Write ``classes[name]`` random RGB images into ``root/name/``; return their paths."""
    rng = np.random.default_rng(seed)
    paths = []
    for name, count in classes.items():
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(count):
            path = folder / f"img_{i:03d}{ext}"
            pixels = rng.integers(0, 256, size=(size, size + 8, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(path)
            paths.append(path)
    return paths


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    """An ImageFolder-style tree: 3 classes x 4 PNG images (12 images)."""
    root = tmp_path / "images"
    write_images(root, {"cat": 4, "dog": 4, "fish": 4})
    return root


@pytest.fixture
def probe_csv(tmp_path: Path, image_folder: Path) -> Path:
    """The probe index (index.csv) of ``image_folder`` as one image_folder part."""
    from vitconcepts.probe import build_probe_index

    out = tmp_path / "probe"
    build_probe_index(
        "test",
        [{"kind": "image_folder", "path": str(image_folder)}],
        out / "index.csv",
        out / "index.json",
        out,
    )
    return out / "index.csv"


Route = tuple[int, dict[str, str], bytes]


@dataclass
class LocalServer:
    """A threaded HTTP server on 127.0.0.1: ``routes[path] = (status, headers, body)``.

    ``handler`` (if set) is called as ``handler(method, path)`` before ``routes`` and may
    return a Route or None. ``requests`` logs ``(method, path)`` of every request.
    """

    url: str
    routes: dict[str, Route] = field(default_factory=dict)
    handler: Callable[[str, str], Route | None] | None = None
    requests: list[tuple[str, str]] = field(default_factory=list)


@pytest.fixture
def http_server() -> Iterator[LocalServer]:
    """Start a LocalServer for the test and stop it afterwards."""
    state = LocalServer(url="")

    class Handler(BaseHTTPRequestHandler):
        def _reply(self, method: str) -> None:
            path = self.path.split("?", 1)[0]
            state.requests.append((method, self.path))
            route = state.handler(method, path) if state.handler else None
            if route is None:
                route = state.routes.get(path, (404, {}, b"not found"))
            status, headers, body = route
            self.send_response(status)
            headers = {"Content-Length": str(len(body)), **headers}
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            if method == "GET":
                self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 (http.server API)
            self._reply("GET")

        def do_HEAD(self) -> None:  # noqa: N802
            self._reply("HEAD")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Callable[[int], Path]]:
    """``small_tmpfs(kb)`` mounts a real tmpfs of ``kb`` KB (a disk that really fills up);
    skips the test where mounting is not allowed (not root, no CAP_SYS_ADMIN)."""
    import os
    import subprocess

    mounted: list[Path] = []

    def mount(kb: int) -> Path:
        point = tmp_path / f"tmpfs{len(mounted)}"
        point.mkdir()
        if os.geteuid() != 0:
            pytest.skip("mounting a tmpfs needs root (CI runs as root)")
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={kb}k", "tmpfs", str(point)],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
        mounted.append(point)
        return point

    yield mount
    for point in mounted:
        subprocess.run(["umount", "-l", str(point)], check=False)
