import numpy as np
import pytest
import skimage.data
from PIL import Image

from openhoi.data.image_io import list_images, load_image
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


def test_list_images_expands_folders_and_globs(tmp_path):
    for name in ["b.jpg", "a.png", "notes.txt"]:
        (tmp_path / name).write_bytes(b"x")
    assert [p.name for p in list_images([tmp_path])] == ["a.png", "b.jpg"]
    assert [p.name for p in list_images([str(tmp_path / "*.jpg"), tmp_path / "b.jpg"])] == ["b.jpg"]
    with pytest.raises(DataError, match="missing"):
        list_images([tmp_path / "missing"])
    with pytest.raises(DataError, match="matches no image"):
        list_images([str(tmp_path / "*.webp")])


def _sixteen_bit_and_rgba(folder):
    """A 16-bit grayscale PNG (values up to 65535) and an RGBA PNG with half-transparent
    pixels, from real photos."""
    camera = skimage.data.camera().astype(np.uint16) * 257  # full 16-bit range
    Image.fromarray(camera).save(folder / "camera16.png")
    chelsea = skimage.data.chelsea()
    alpha = np.full(chelsea.shape[:2], 128, np.uint8)
    alpha[:, : chelsea.shape[1] // 2] = 255
    Image.fromarray(np.dstack([chelsea, alpha]), "RGBA").save(folder / "chelsea_rgba.png")
    return folder / "camera16.png", folder / "chelsea_rgba.png"


def test_training_and_prediction_decode_16_bit_and_rgba_identically(tmp_path):
    """One decoder: the dataset reader (training, evaluation) gives the pixels prediction
    sees; a 16-bit PNG keeps its picture (it used to turn all white in training)."""
    from openhoi.data.dataset import read_image

    sixteen, rgba = _sixteen_bit_and_rgba(tmp_path)
    for path in (sixteen, rgba):
        assert np.array_equal(np.asarray(read_image(path)), np.asarray(load_image(path)))
    arr = np.asarray(read_image(sixteen))
    assert (arr[..., 0] == skimage.data.camera()).all()  # 65535 -> 255, not clipped white
    out = np.asarray(read_image(rgba)).astype(int)
    half = skimage.data.chelsea()[:, 300:].astype(int)  # alpha 128 composited on white
    assert np.abs(out[:, 300:] - (half * 128 + 255 * 127) / 255).max() <= 1
