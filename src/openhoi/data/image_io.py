"""Reading any photo a user has into an RGB ``PIL.Image``, with errors that name the file.

JPEG, PNG, WebP, BMP, TIFF, GIF (first frame); grayscale, palette, 16-bit and CMYK are converted
to RGB; transparency is composited onto white (a transparent background would otherwise turn
black and change what the model sees); the EXIF orientation tag is applied, so boxes are in the
pixels a viewer shows.
"""

from __future__ import annotations

import glob
import warnings
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from openhoi.errors import DataError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif")

# A decompression bomb guard that still admits large real photos (e.g. 100 MP panoramas).
MAX_PIXELS = 300_000_000


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert any PIL mode to RGB: alpha composited on white, 16-bit scaled to 8-bit."""
    if image.mode == "RGB":
        return image
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(image, dtype=np.float64)
        hi = arr.max() if arr.size and arr.max() > 0 else 1.0
        scale = 65535.0 if hi > 255 else 255.0
        arr = np.clip(arr / scale * 255.0, 0, 255).astype(np.uint8)
        return Image.fromarray(arr, mode="L").convert("RGB")
    if image.mode == "F":
        arr = np.asarray(image, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        arr = (arr - lo) / (hi - lo if hi > lo else 1.0) * 255.0
        return Image.fromarray(arr.astype(np.uint8), mode="L").convert("RGB")
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


class ImageTooLargeError(DataError):
    """An image has more pixels than allowed (a decompression bomb guard)."""


def load_image(path: str | Path, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Open ``path`` as an RGB image, EXIF orientation applied.

    Raises:
        DataError: the file is missing, is not an image, or is truncated/corrupt; the message
            names the file.
        ImageTooLargeError: the image has more than ``max_pixels`` pixels.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: image file not found")
    return decode_image(path, str(path), max_pixels)


def decode_image(source: str | Path | BinaryIO, name: str,
                 max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Decode an image file or binary stream (an upload) as ``load_image`` does; errors name
    ``name``. The size is checked from the header, before any pixel is decoded."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(source) as image:
                if image.width * image.height > max_pixels:
                    raise ImageTooLargeError(
                        f"{name}: image of {image.width}x{image.height} pixels exceeds the "
                        f"limit of {max_pixels} pixels")
                image.load()  # decode now: a truncated file fails here, not later
                image = ImageOps.exif_transpose(image)
                return to_rgb(image)
    except DataError:
        raise
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as err:
        raise ImageTooLargeError(f"{name}: {err}") from None
    except UnidentifiedImageError:  # its message names the path, or a BytesIO object
        raise DataError(f"{name}: cannot read image (UnidentifiedImageError: not an image "
                        "format Pillow can read)") from None
    except (OSError, SyntaxError, ValueError) as err:
        raise DataError(f"{name}: cannot read image ({type(err).__name__}: {err})") from None


def list_images(inputs: list[str | Path]) -> list[Path]:
    """Expand files, folders (non-recursive, sorted) and glob patterns into image paths.

    Files named explicitly are kept whatever their suffix (the reader decides); folders and
    globs contribute only files with an image suffix. Duplicates are dropped, order is kept.
    """
    out: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            out += sorted(c for c in p.iterdir() if c.suffix.lower() in IMAGE_SUFFIXES)
        elif p.exists():
            out.append(p)
        elif any(ch in str(item) for ch in "*?["):
            matches = sorted(Path(m) for m in glob.glob(str(item), recursive=True)
                             if Path(m).suffix.lower() in IMAGE_SUFFIXES)
            if not matches:
                raise DataError(f"{item}: pattern matches no image")
            out += matches
        else:
            raise DataError(f"{item}: no such file or folder")
    seen: set[Path] = set()
    unique = []
    for p in out:
        key = p.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(p)
    return unique
