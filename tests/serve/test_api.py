"""The JSON API over a real uvicorn server: answers equal HOIPredictor's, bad input is a 4xx."""

from __future__ import annotations

import base64
import functools
import io
import json
import os
import shutil
import struct
import subprocess
import threading
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from PIL import Image

from openhoi.predict import HOIPredictor
from openhoi.serve import api
from openhoi.visualize import group_pairs, output_size


@functools.cache
def _predictor(checkpoint: Path, interactions: tuple[str, ...] | None) -> HOIPredictor:
    return HOIPredictor.from_checkpoint(checkpoint, "cpu", interactions)


def direct(checkpoint: Path, photo: Path, top_k: int | None = 10, min_score: float = 0.0,
           interactions: list[str] | None = None) -> dict:
    """What ``openhoi predict`` writes for ``photo``, with the image named as uploaded."""
    predictor = _predictor(checkpoint, None if interactions is None else tuple(interactions))
    (result,) = predictor.predict([photo], top_k=top_k, min_score=min_score)
    return {**result.to_json(), "image": photo.name}


def post(url: str, photo: Path, **options) -> httpx.Response:
    with photo.open("rb") as f:
        return httpx.post(f"{url}/api/predict", files={"image": (photo.name, f)},
                          data={k: str(v) for k, v in options.items()}, timeout=120)


def png_header_bomb(width: int, height: int, rows: int) -> bytes:
    """A grayscale PNG claiming ``width x height`` pixels that holds ``rows`` rows of zeros
    (a few KB on disk; the pixel count is in the header)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\0" * (width + 1) * rows, 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_models_report_task_and_classes(server, checkpoints):
    answer = httpx.get(f"{server.url}/api/models").json()["models"]
    assert [m["name"] for m in answer] == ["tiny", "other"]
    assert [m["checkpoint"] for m in answer] == [str(p) for p in checkpoints]
    for m in answer:
        assert m["task"] == "detection"
        assert m["label_space"] == "synthetic"
        assert len(m["interactions"]) == 13 and "sit on chair" in m["interactions"]
    examples = httpx.get(f"{server.url}/api/examples").json()["examples"]
    for ex in examples:
        picture = httpx.get(f"{server.url}{ex['url']}")
        assert picture.status_code == 200
        assert Image.open(io.BytesIO(picture.content)).size[0] > 0


def test_concurrent_requests_each_get_their_own_answer(server, checkpoints, photos):
    """8 simultaneous requests (different photos, models, top-k, min-score, vocabularies):
    every answer equals HOIPredictor's on that photo with those options."""
    tiny, other = checkpoints
    names = sorted(photos)
    assert len(names) == 8
    specs = []
    for k, name in enumerate(names):
        checkpoint = (tiny, other)[k % 2]
        options = {"model": checkpoint.stem, "top_k": 3 + 2 * k}
        if k in (2, 5):
            options["interactions"] = ("hold cup, sit on chair, fly kite" if k == 2 else
                                       "kick sports ball\nride horse\ncarry chair")
        if k in (3, 6):  # a threshold that drops some triplets and keeps some
            scores = [t["score"] for t in direct(checkpoint, photos[name], None)["triplets"]]
            options["min_score"] = scores[options["top_k"] // 2]
        specs.append((checkpoint, photos[name], options))

    barrier = threading.Barrier(len(specs))

    def send(spec: tuple[Path, Path, dict]) -> httpx.Response:
        _, photo, options = spec
        barrier.wait()
        return post(server.url, photo, **options)

    with ThreadPoolExecutor(len(specs)) as pool:
        responses = list(pool.map(send, specs))
    seen = set()
    for (checkpoint, photo, options), response in zip(specs, responses):
        assert response.status_code == 200, response.text
        entries = options.get("interactions")
        expected = direct(checkpoint, photo, options["top_k"], options.get("min_score", 0.0),
                          entries.replace("\n", ",").split(",") if entries else None)
        assert response.json() == expected, (photo.name, options)
        assert expected["triplets"], (photo.name, options)
        if "min_score" in options:
            assert len(expected["triplets"]) < options["top_k"]
        if entries:
            verbs = {t["verb"].replace("_", " ") + " " + t["object"] for t in expected["triplets"]}
            assert verbs <= {e.strip() for e in entries.replace("\n", ",").split(",")}
        seen.add(json.dumps(expected["triplets"]))
    assert len(seen) == len(specs)  # eight different answers, none swapped


def test_draw_returns_the_predict_picture_and_numbered_pairs(server, checkpoints, photos):
    photo = photos["astronaut.jpg"]
    answer = post(server.url, photo, top_k=6, draw="true").json()
    expected = direct(checkpoints[0], photo, 6)
    picture_url, pairs = answer.pop("picture"), answer.pop("pairs")
    assert answer == expected
    assert picture_url.startswith("data:image/jpeg;base64,")
    picture = Image.open(io.BytesIO(base64.b64decode(picture_url.split(",", 1)[1])))
    predictor = HOIPredictor.from_checkpoint(checkpoints[0], "cpu")
    (result,) = predictor.predict([photo], top_k=6)
    grouped = group_pairs(result.triplets)
    assert picture.size == output_size((512, 512), len(grouped))
    assert [p["pair"] for p in pairs] == list(range(1, len(grouped) + 1))
    assert sum(len(p["interactions"]) for p in pairs) == len(expected["triplets"])
    assert [round(p["interactions"][0]["score"], 5) for p in pairs] == \
        [round(g.best, 5) for g in grouped]


def test_raw_body_upload_equals_multipart(server, checkpoints, photos):
    photo = photos["coffee.jpg"]
    raw = httpx.post(f"{server.url}/api/predict?top_k=4&name=coffee.jpg",
                     content=photo.read_bytes(), headers={"content-type": "image/jpeg"})
    assert raw.status_code == 200, raw.text
    assert raw.json() == direct(checkpoints[0], photo, 4)


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_readme_curl_example(server, checkpoints, photos):
    photo = photos["astronaut.jpg"]
    out = subprocess.run(
        ["curl", "-sS", "-F", f"image=@{photo}", "-F", "top_k=5",
         f"{server.url}/api/predict"], capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == direct(checkpoints[0], photo, 5)


def _chunks(data: bytes, size: int = 65536):
    for start in range(0, len(data), size):
        yield data[start:start + size]


BAD_UPLOADS = {
    "text file": (400, "notes.txt", b"these are not the pixels you are looking for\n" * 20,
                  "notes.txt: cannot read image"),
    "truncated JPEG": (400, "cut.jpg", None, "cut.jpg: cannot read image"),
    "empty file": (400, "empty.jpg", b"", "no image received"),
    "bomb over the server limit": (413, "bomb.png", png_header_bomb(3000, 3000, 3000),
                                   "exceeds the limit of 4000000 pixels"),
    "bomb over PIL's limit": (413, "huge.png", png_header_bomb(40000, 40000, 4),
                              "huge.png: Image size (1600000000 pixels) exceeds limit"),
    "oversize body": (413, "big.jpg", os.urandom(3 * 2**20), "request body over the limit"),
}


@pytest.mark.parametrize("case", list(BAD_UPLOADS))
def test_bad_uploads_get_a_clear_4xx(server, photos, case):
    status, name, data, message = BAD_UPLOADS[case]
    if data is None:
        data = photos["astronaut.jpg"].read_bytes()
        data = data[: len(data) // 2]
    response = httpx.post(f"{server.url}/api/predict", files={"image": (name, data)},
                          timeout=60)
    assert response.status_code == status, response.text
    assert message in response.json()["error"]
    assert "Traceback" not in response.text and "BytesIO" not in response.text


def test_oversize_chunked_body_is_refused_while_reading(server):
    response = httpx.post(f"{server.url}/api/predict", content=_chunks(os.urandom(3 * 2**20)),
                          headers={"content-type": "image/jpeg"}, timeout=60)
    assert "content-length" not in response.request.headers
    assert response.status_code == 413
    assert "request body over the limit" in response.json()["error"]


@pytest.mark.parametrize("options,message", [
    ({"topk": "5"}, "unknown option(s) ['topk']"),
    ({"top_k": "0"}, "top_k: must be at least 1"),
    ({"top_k": "many"}, "top_k: expected an integer"),
    ({"min_score": "nan"}, "min_score: expected a finite number"),
    ({"draw": "maybe"}, "draw: expected true or false"),
    ({"model": "nope"}, "model: no model named 'nope'"),
    ({"interactions": "ride"}, "needs a verb and an object"),
    ({"interactions": ",".join(f"hold thing{k}" for k in range(1001))},
     "1001 entries, at most 1000"),
])
def test_bad_options_get_a_400_naming_the_field(server, photos, options, message):
    response = post(server.url, photos["camera.png"], **options)
    assert response.status_code == 400, response.text
    assert message in response.json()["error"]


def test_interaction_list_is_never_read_as_a_server_file(server, photos, tmp_path):
    secret = tmp_path / "list.txt"
    secret.write_text("hold cup\n")
    response = post(server.url, photos["camera.png"], interactions=str(secret))
    # The path is taken as an entry (a strange verb and object), not as a file to open.
    assert response.status_code in (200, 400), response.text
    assert all(t["object"] != "cup" for t in response.json().get("triplets", []))
    assert "hold cup" not in response.text


def test_missing_image_field_and_unknown_route(server):
    response = httpx.post(f"{server.url}/api/predict", files={"photo": ("a.jpg", b"x")})
    assert response.status_code == 400
    assert "no 'image' file field" in response.json()["error"]
    assert httpx.get(f"{server.url}/api/nothing").status_code == 404


def test_unexpected_failure_is_a_500_without_traceback(server, photos, monkeypatch):
    def broken(*args):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(api, "predict_request", broken)
    response = post(server.url, photos["camera.png"])
    assert response.status_code == 500
    assert response.json() == {"error": "internal server error (RuntimeError); see the server log"}


def test_foreign_host_header_is_refused(server):
    """DNS rebinding: a page on another name that resolves to 127.0.0.1 can't use the API."""
    response = httpx.get(f"{server.url}/api/models", headers={"host": "attacker.example"})
    assert response.status_code == 400


def test_page_and_assets_are_local(server):
    page = httpx.get(server.url + "/")
    assert page.status_code == 200
    assert "default-src 'self'" in page.headers["content-security-policy"]
    for asset in ("/static/app.js", "/static/style.css"):
        assert httpx.get(server.url + asset).status_code == 200
    assert "http" not in page.text.replace(server.url, "")
