import io
import struct
import zlib

import numpy as np
import pytest
import skimage.data
from PIL import Image

from openhoi.data.image_io import ImageTooLargeError, decode_image, list_images, load_image
from openhoi.errors import DataError


def test_grayscale_photo_becomes_rgb(tmp_path):
    path = tmp_path / "camera.png"
    Image.fromarray(skimage.data.camera()).save(path)
    img = load_image(path)
    arr = np.asarray(img)
    assert img.mode == "RGB" and arr.shape == (512, 512, 3)
    assert (arr[..., 0] == skimage.data.camera()).all() and (arr[..., 0] == arr[..., 2]).all()


def test_rgba_is_composited_on_white(tmp_path):
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., 0] = 200  # red, fully transparent on the left half, opaque on the right
    rgba[:, 4:, 3] = 255
    path = tmp_path / "a.png"
    Image.fromarray(rgba, "RGBA").save(path)
    arr = np.asarray(load_image(path))
    assert (arr[:, :4] == 255).all()
    assert (arr[:, 4:] == [200, 0, 0]).all()


def test_exif_orientation_is_applied(tmp_path):
    photo = Image.fromarray(skimage.data.astronaut()[:300, :200])  # 200 wide, 300 high
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    path = tmp_path / "rot.jpg"
    photo.save(path, exif=exif)
    assert load_image(path).size == (300, 200)


@pytest.mark.parametrize("suffix", [".webp", ".jpg", ".bmp", ".tif", ".gif"])
def test_common_formats_load(tmp_path, suffix):
    path = tmp_path / f"coffee{suffix}"
    Image.fromarray(skimage.data.coffee()).save(path)
    assert load_image(path).size == (600, 400)


def test_sixteen_bit_and_tiny_images(tmp_path):
    deep = (np.arange(16, dtype=np.uint16).reshape(4, 4) * 4000)
    Image.fromarray(deep).save(tmp_path / "deep.png")
    arr = np.asarray(load_image(tmp_path / "deep.png"))
    assert arr.shape == (4, 4, 3) and arr.max() > 200 and arr.min() == 0
    Image.new("RGB", (1, 1)).save(tmp_path / "one.png")
    assert load_image(tmp_path / "one.png").size == (1, 1)


def test_corrupt_and_missing_files_name_the_file(tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image at all")
    with pytest.raises(DataError, match="bad.jpg"):
        load_image(bad)
    good = tmp_path / "trunc.jpg"
    Image.fromarray(skimage.data.chelsea()).save(good)
    good.write_bytes(good.read_bytes()[:2000])
    with pytest.raises(DataError, match="trunc.jpg"):
        load_image(good)
    with pytest.raises(DataError, match="nope.png"):
        load_image(tmp_path / "nope.png")


def _png_header(width: int, height: int) -> bytes:
    """A grayscale PNG header claiming ``width x height`` pixels, with one row of data."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(b"\0" * (width + 1))) + chunk(b"IEND", b""))


def test_decompression_bombs_are_refused_from_the_header(tmp_path):
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(_png_header(40000, 40000))  # 1.6 gigapixels in 200 bytes
    with pytest.raises(ImageTooLargeError, match="bomb.png"):
        load_image(bomb)
    with pytest.raises(ImageTooLargeError, match="upload.png: image of 3000x2000 pixels"):
        decode_image(io.BytesIO(_png_header(3000, 2000)), "upload.png", max_pixels=10**6)


def test_decode_image_reads_a_stream_like_load_image(tmp_path):
    path = tmp_path / "coffee.jpg"
    Image.fromarray(skimage.data.coffee()).save(path)
    from_stream = decode_image(io.BytesIO(path.read_bytes()), "coffee.jpg")
    assert np.array_equal(np.asarray(from_stream), np.asarray(load_image(path)))


def test_list_images_expands_folders_and_globs(tmp_path):
    for name in ["b.jpg", "a.png", "notes.txt"]:
        (tmp_path / name).write_bytes(b"x")
    assert [p.name for p in list_images([tmp_path])] == ["a.png", "b.jpg"]
    assert [p.name for p in list_images([str(tmp_path / "*.jpg"), tmp_path / "b.jpg"])] == ["b.jpg"]
    with pytest.raises(DataError, match="missing"):
        list_images([tmp_path / "missing"])
    with pytest.raises(DataError, match="matches no image"):
        list_images([str(tmp_path / "*.webp")])
