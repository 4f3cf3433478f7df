"""End to end in a real browser: headless Chromium (Debian's) opens the page of a live server,
uploads scikit-image's astronaut and reads the drawn picture and the pair table.

Runs in the default suite when /usr/bin/chromium exists, is skipped otherwise, and fails when
CI=true and Chromium is missing (.ci/run installs it). ``OPENHOI_SCREENSHOT=docs/serve.png``
also saves the page's screenshot there (the README's picture).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from openhoi.predict import HOIPredictor
from openhoi.visualize import group_pairs, output_size

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
TIMEOUT_MS = 120_000  # a cold model on a loaded 2-core CI machine


@pytest.fixture(scope="module")
def browser() -> Iterator:
    missing = None if CHROMIUM.is_file() else f"{CHROMIUM} is missing (apt-get install chromium)"
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing = missing or "python playwright is not installed (the dev extra)"
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but {missing}: .ci/run must install it")
        pytest.skip(missing)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, server):
    """A fresh page of the live server; records console errors and every request's URL."""
    context = browser.new_context(viewport={"width": 1360, "height": 820}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.errors, page.urls = [], []
    page.on("console", lambda m: page.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.on("request", lambda r: page.urls.append(r.url))
    page.goto(server.url + "/")
    page.wait_for_selector("body[data-ready=true]")
    yield page
    context.close()


def test_upload_astronaut_shows_picture_and_pair_table(page, server, checkpoints, photos,
                                                       tmp_path):
    photo = photos["astronaut.jpg"]  # skimage.data.astronaut() saved as JPEG
    assert page.locator("#model option").all_inner_texts() == ["tiny (detection)",
                                                               "other (detection)"]
    page.set_input_files("#file", str(photo))
    page.fill("#top_k", "6")
    page.click("#run")
    page.wait_for_selector("body[data-shown=true]")  # set by the picture's load event

    (result,) = HOIPredictor.from_checkpoint(checkpoints[0], "cpu").predict([photo], top_k=6)
    pairs = group_pairs(result.triplets)
    width, height = page.evaluate("(p => [p.naturalWidth, p.naturalHeight])"
                                  "(document.getElementById('picture'))")
    assert (width, height) == output_size((512, 512), len(pairs))
    rows = page.locator("#pairs tbody tr")
    assert rows.count() == len(pairs)
    first = rows.nth(0).locator("td").all_inner_texts()
    assert first[0].strip() == "1"
    # the page rounds the answer's 2-decimal box with JavaScript's Math.round (halves up)
    assert first[1] == ", ".join(str(math.floor(round(v, 2) + 0.5)) for v in pairs[0].h_box)
    best_text, best_score = pairs[0].rows[0]
    assert first[4].splitlines()[0] == f"{best_text} ({best_score:.3f})"
    assert "astronaut.jpg: 512x512 px, 6 triplets" in page.inner_text("#caption")

    # The download is predict's JSON line for the photo.
    with page.expect_download() as download:
        page.click("#download")
    assert download.value.suggested_filename == "astronaut.json"
    downloaded = json.loads(Path(download.value.path()).read_text())
    assert downloaded == {**result.to_json(), "image": "astronaut.jpg"}

    assert page.errors == []
    outside = [u for u in page.urls if not u.startswith((server.url, "data:", "blob:"))]
    assert outside == []  # nothing from a CDN or anywhere else

    shot = tmp_path / "serve.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    if os.environ.get("OPENHOI_SCREENSHOT"):  # 256 colours: a third of the bytes in git
        Image.open(shot).quantize(256, dither=Image.Dither.NONE).save(
            os.environ["OPENHOI_SCREENSHOT"], optimize=True)


def test_example_photo_and_a_bad_upload(page, tmp_path):
    page.select_option("#example", label="astronaut.jpg")
    page.wait_for_selector("#file-name:has-text('astronaut.jpg')")
    page.click("#run")
    page.wait_for_selector("body[data-shown=true]")
    assert page.locator("#pairs tbody tr").count() >= 1

    text = tmp_path / "notes.txt"
    text.write_text("not a photo\n")
    page.set_input_files("#file", str(text))
    page.click("#run")
    page.wait_for_selector("#status.error")
    assert "notes.txt: cannot read image" in page.inner_text("#status")
