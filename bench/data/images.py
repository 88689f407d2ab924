"""Decoding one image: mode conversion, crop box, resize. Pure functions, no state."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

# Box as fractions of (width, height): (left, top, right, bottom).
FracBox = tuple[float, float, float, float]


@dataclass(frozen=True)
class Crop:
    """How a source image becomes a square ``size`` x ``size`` array.

    ``box`` is None for the central square of side min(width, height) (DCGAN practice),
    else a fixed box in fractions of the image size, so the same face region is taken
    whatever the file's pixel size.
    """

    size: int
    channels: int  # 3 (RGB) or 1 (gray)
    box: FracBox | None = None
    resample: str = "lanczos"

    def describe(self) -> str:
        where = "central square" if self.box is None else f"box {self.box} (fractions of w, h)"
        return f"{where}, {self.resample} resize to {self.size}x{self.size}, {self.channels} ch"


_RESAMPLE = {"lanczos": Image.Resampling.LANCZOS, "bilinear": Image.Resampling.BILINEAR,
             "bicubic": Image.Resampling.BICUBIC, "box": Image.Resampling.BOX}


def to_mode(img: Image.Image, channels: int) -> Image.Image:
    """Convert any PIL mode to RGB (channels=3) or L (channels=1), the same way every time.

    16-bit and 32-bit integer images are scaled to 8 bit (not clipped); images with alpha
    are composited over white; CMYK, palette and gray go through PIL's own conversion.
    """
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if img.mode.startswith("I;16") or arr.max(initial=0) > 255 else 255.0
        arr = np.clip(np.round(arr * (255.0 / top)), 0, 255).astype(np.uint8)
        img = Image.fromarray(arr, mode="L")
    elif img.mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        top = 1.0 if arr.max(initial=0) <= 1.0 else 255.0
        img = Image.fromarray(np.clip(np.round(arr * 255.0 / top), 0, 255).astype(np.uint8), "L")
    has_alpha = img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        img.mode == "P" and "transparency" in img.info
    )
    if has_alpha:
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba)
    return img.convert("RGB" if channels == 3 else "L")


def crop_resize(img: Image.Image, crop: Crop) -> np.ndarray:
    """Crop, resize and return a C x H x W uint8 array."""
    img = to_mode(img, crop.channels)
    w, h = img.size
    if crop.box is None:
        side = min(w, h)
        left, top = (w - side) / 2.0, (h - side) / 2.0
        box = (left, top, left + side, top + side)
    else:
        fl, ft, fr, fb = crop.box
        box = (fl * w, ft * h, fr * w, fb * h)
    out = img.resize((crop.size, crop.size), _RESAMPLE[crop.resample], box=box)
    arr = np.asarray(out, dtype=np.uint8)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    return np.ascontiguousarray(arr.transpose(2, 0, 1))


def open_image(source: str | Path | bytes) -> Image.Image:
    """Open and fully decode an image; raise ValueError with the reason on any failure."""
    try:
        img = Image.open(io.BytesIO(source) if isinstance(source, bytes) else source)
        img.load()  # truncated or corrupt data fails here, not later
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise ValueError(f"{type(e).__name__}: {e}") from None
    except Exception as e:  # noqa: BLE001 - a decoder bug on hostile bytes is still "unreadable"
        raise ValueError(f"{type(e).__name__}: {e}") from None
    if img.width < 1 or img.height < 1:
        raise ValueError("image has zero size")
    return img


def decode(source: str | Path | bytes, crop: Crop) -> np.ndarray:
    img = open_image(source)
    try:
        return crop_resize(img, crop)
    except (OSError, ValueError, SyntaxError) as e:  # e.g. data that fails late, on convert
        raise ValueError(f"{type(e).__name__}: {e}") from None
