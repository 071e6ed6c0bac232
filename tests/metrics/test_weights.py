"""Weight files: fetched once into the torch hub cache, verified against a pinned SHA-256,
written atomically, never fetched offline. The real download code runs against local
``file://`` URLs and a loopback HTTP server; nothing here reaches the internet."""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import threading
import urllib.request
import zipfile

import pytest
import torch

from metrics import weights
from metrics.weights import WEIGHTS, Unavailable, WeightFile, WeightsError, ensure, sha256_of


@pytest.fixture
def published(tmp_path) -> tuple[WeightFile, bytes]:
    """A 'published' file two chunks and a bit long, served from file://, its hash pinned."""
    payload = bytes(range(256)) * (2 * weights.CHUNK // 256 + 7)
    source = tmp_path / "server" / "net-weights.pth"
    source.parent.mkdir()
    source.write_bytes(payload)
    weight = WeightFile("net-weights.pth", source.as_uri(), hashlib.sha256(payload).hexdigest(),
                        "Test net")
    return weight, payload


def _leftovers(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_a_missing_file_is_fetched_into_the_hub_cache_verified_and_then_reused(
        hub, published, monkeypatch):
    weight, payload = published
    path, digest = ensure(weight)
    assert path == hub / weight.filename and path.read_bytes() == payload
    assert digest == weight.sha256 and _leftovers(hub) == [weight.filename]

    def no_network(*args, **kwargs):
        raise AssertionError("fetched a file that is cached")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    assert ensure(weight) == (path, digest)


def test_a_pinned_prefix_is_checked_as_torch_hub_does(hub, published):
    weight, _ = published
    assert ensure(dataclasses.replace(weight, sha256=weight.sha256[:8]))[1] == weight.sha256
    wrong = dataclasses.replace(weight, sha256="0" * 8)
    (hub / weight.filename).unlink()
    with pytest.raises(WeightsError, match="not the pinned 00000000"):
        ensure(wrong)


def test_a_corrupted_download_is_refused_and_nothing_is_cached(tmp_path, hub, published):
    weight, payload = published
    source = tmp_path / "server" / "corrupted.pth"
    source.write_bytes(b"x" + payload[1:])  # one byte off, the same length
    bad = dataclasses.replace(weight, url=source.as_uri())  # the same pinned hash
    with pytest.raises(WeightsError, match="SHA-256 .* not the pinned .*nothing was cached"):
        ensure(bad)
    assert _leftovers(hub) == []  # neither the file nor a partial one


class _Truncating(http.server.BaseHTTPRequestHandler):
    """Announces more bytes than it sends, then hangs up: a transfer cut off midway."""

    body = b"\x00" * 5000

    def do_GET(self):  # noqa: N802 (http.server's name)
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.body) * 3))
        self.end_headers()
        self.wfile.write(self.body)
        self.wfile.flush()
        self.close_connection = True

    def log_message(self, *args):
        pass


def test_an_interrupted_transfer_leaves_nothing_in_the_cache(hub):
    server = http.server.HTTPServer(("127.0.0.1", 0), _Truncating)
    thread = threading.Thread(target=server.handle_request, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/net-weights.pth"
        weight = WeightFile("net-weights.pth", url, "0" * 64, "Test net")
        with pytest.raises(WeightsError, match="nothing was cached"):
            ensure(weight)
    finally:
        thread.join(timeout=10)
        server.server_close()
    assert _leftovers(hub) == []


def test_offline_nothing_is_fetched_and_the_reason_is_one_line(hub, published, monkeypatch):
    weight, _ = published

    def no_network(*args, **kwargs):
        raise AssertionError("tried the network offline")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    with pytest.raises(Unavailable) as flag:
        ensure(weight, offline=True)
    monkeypatch.setenv(weights.OFFLINE_ENV, "1")
    with pytest.raises(Unavailable) as env:
        ensure(weight)
    for message in (str(flag.value), str(env.value)):
        assert "\n" not in message and "net-weights.pth not found in" in message
        assert "offline" in message and weight.url in message
    assert _leftovers(hub) == []


def test_a_file_found_on_disk_is_verified_too(tmp_path, hub, published):
    weight, payload = published
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / weight.filename).write_bytes(payload[:-1])  # an incomplete manual copy
    with pytest.raises(WeightsError, match="delete the file"):
        ensure(weight, folder, offline=True)
    (folder / weight.filename).write_bytes(payload)
    assert ensure(weight, folder, offline=True) == (folder / weight.filename, weight.sha256)


def test_a_file_shipped_inside_a_zip_is_extracted_and_verified(tmp_path, hub, published):
    weight, payload = published
    archive = tmp_path / "release.zip"
    with zipfile.ZipFile(archive, "w") as out:
        out.writestr("release/readme.txt", "weights inside")
        out.writestr("release/net.pt", payload)
    zipped = dataclasses.replace(weight, url=archive.as_uri(), member="release/net.pt")
    path, digest = ensure(zipped)
    assert path.read_bytes() == payload and digest == weight.sha256
    path.unlink()
    page = tmp_path / "confirm.html"
    page.write_text("<html>confirm the download</html>")
    with pytest.raises(WeightsError, match="expected a zip archive"):
        ensure(dataclasses.replace(zipped, url=page.as_uri()))
    assert _leftovers(hub) == []


def test_every_published_file_pins_a_hash_and_a_canonical_url():
    for key, weight in WEIGHTS.items():
        assert weight.url.startswith("https://"), key
        assert len(weight.sha256) in (8, 64) and int(weight.sha256, 16) >= 0, key
        if len(weight.sha256) == 8:  # torch.hub convention: the prefix is in the file name
            assert weight.sha256 in weight.filename, key


def test_sha256_of_reads_the_whole_file(tmp_path):
    path = tmp_path / "blob"
    path.write_bytes(b"a" * (3 * weights.CHUNK + 1))
    assert sha256_of(path) == hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_cache_is_torch_hubs_checkpoints_folder(hub):
    assert weights.cache_dir() == hub
    assert str(hub).startswith(torch.hub.get_dir())
