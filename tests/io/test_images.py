"""load_image on real files of every awkward kind, written by the tests; expected pixels are literals."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

from layerscope.errors import ImageError
from layerscope.io import load_image
from layerscope.io.images import as_loaded_image, to_rgb_or_l

from .files import png_declaring

RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)


def _pixels(image: Image.Image) -> list:
    """Pixels in row-major order: ints for L, tuples for RGB."""
    array = np.asarray(image)
    return array.flatten().tolist() if array.ndim == 2 else [tuple(p) for p in array.reshape(-1, array.shape[2]).tolist()]


def _open_fds_to(path) -> int:
    target = os.path.realpath(path)
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            count += os.path.realpath(os.readlink(f"/proc/self/fd/{fd}")) == target
        except OSError:
            pass
    return count


# --- failures: typed ImageError naming the file -------------------------------------------------


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(ImageError, match=r"nope\.png: no such file"):
        load_image(tmp_path / "nope.png")


def test_directory_is_refused(tmp_path):
    with pytest.raises(ImageError, match="is a directory"):
        load_image(tmp_path)


def test_truncated_jpeg(tmp_path, cat):
    full = tmp_path / "full.jpg"
    cat.save(full, quality=90)
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    with pytest.raises(ImageError, match=r"cut\.jpg: corrupt or truncated JPEG"):
        load_image(cut)


def test_garbage_bytes_with_png_extension(tmp_path):
    path = tmp_path / "garbage.png"
    path.write_bytes(os.urandom(64).replace(b"\x89", b"\x00"))
    with pytest.raises(ImageError, match=r"garbage\.png: not a readable image .*Supported formats: PNG, JPEG"):
        load_image(path)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    with pytest.raises(ImageError, match=r"empty\.jpg: not a readable image \(0 bytes"):
        load_image(path)


def test_format_outside_the_allowlist(tmp_path):
    path = tmp_path / "tiny.ppm"
    Image.new("RGB", (4, 4)).save(path)
    with pytest.raises(ImageError, match=r"tiny\.ppm: not a readable image"):
        load_image(path)


@pytest.mark.parametrize("side", [12_000, 20_000], ids=["over-limit-warning", "over-twice-limit-error"])
def test_png_declaring_huge_size_is_an_error_not_a_warning(tmp_path, side):
    path = tmp_path / "bomb.png"
    path.write_bytes(png_declaring(side, side))
    with pytest.raises(ImageError, match=r"bomb\.png: .*decompression bomb.*max_pixels"):
        load_image(path)


def test_lowered_limit_refuses_a_normal_image(tmp_path):
    path = tmp_path / "normal.png"
    Image.new("RGB", (100, 100)).save(path)
    with pytest.raises(ImageError, match=r"100x100 = 10,000 pixels is over the limit of 5,000"):
        load_image(path, max_pixels=5_000)


def test_raised_limit_loads_and_restores_pillow_global(tmp_path, monkeypatch):
    path = tmp_path / "normal.png"
    Image.new("RGB", (300, 300), GREEN).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1_000)
    loaded = load_image(path, max_pixels=1_000_000)
    assert loaded.image.getpixel((0, 0)) == GREEN
    assert Image.MAX_IMAGE_PIXELS == 1_000


# --- modes and formats ---------------------------------------------------------------------------


def test_cmyk_jpeg_becomes_rgb(tmp_path):
    path = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (8, 8), (0, 255, 255, 0)).save(path, quality=95)
    loaded = load_image(path)
    assert (loaded.image.mode, loaded.original_mode) == ("RGB", "CMYK")
    assert np.abs(np.subtract(loaded.image.getpixel((4, 4)), RED)).max() <= 3
    assert any("CMYK" in note for note in loaded.notes)


def test_palette_png_with_transparency_is_composited(tmp_path):
    path = tmp_path / "palette.png"
    image = Image.new("P", (2, 1))
    image.putpalette([*RED, *BLUE])
    image.putpixel((1, 0), 1)
    image.save(path, transparency=1)
    loaded = load_image(path)
    assert loaded.original_mode == "P"
    assert _pixels(loaded.image) == [RED, (255, 255, 255)]


def test_16bit_png_is_scaled_not_clipped(tmp_path):
    path = tmp_path / "deep.png"
    Image.fromarray(np.array([[65535, 65000], [60000, 32768]], dtype=np.uint16)).save(path)
    loaded = load_image(path)
    assert loaded.original_mode.startswith("I")
    assert loaded.image.mode == "L"
    # round(v * 255 / 65535): clipping would give 255 for every pixel
    assert _pixels(loaded.image) == [255, 253, 233, 128]
    assert "16-bit range" in loaded.notes[-1]


def test_float_tiff_in_unit_range(tmp_path):
    path = tmp_path / "float.tif"
    Image.fromarray(np.array([[0.0, 0.5, 1.0]], dtype=np.float32)).save(path)
    loaded = load_image(path)
    assert (loaded.original_mode, _pixels(loaded.image)) == ("F", [0, 128, 255])


def test_int32_tiff_outside_16_bits_uses_its_range(tmp_path):
    path = tmp_path / "wide.tif"
    Image.fromarray(np.array([[0, 35000, 70000]], dtype=np.int32)).save(path)
    loaded = load_image(path)
    assert _pixels(loaded.image) == [0, 128, 255]
    assert "min..max 0..70000" in loaded.notes[-1]


@pytest.mark.parametrize(
    ("background", "expected"), [((255, 255, 255), (255, 127, 127)), ((0, 0, 0), (128, 0, 0))], ids=["white", "black"]
)
def test_rgba_is_composited_onto_background(tmp_path, background, expected):
    path = tmp_path / "half.png"
    Image.new("RGBA", (3, 3), (255, 0, 0, 128)).save(path)
    loaded = load_image(path, background=background)
    assert loaded.image.mode == "RGB"
    assert loaded.image.getpixel((1, 1)) == expected


def test_la_becomes_l_over_white(tmp_path):
    path = tmp_path / "la.png"
    Image.new("LA", (2, 2), (0, 0)).save(path)
    loaded = load_image(path)
    assert (loaded.image.mode, loaded.image.getpixel((0, 0))) == ("L", 255)


def test_exif_orientation_is_applied(tmp_path):
    image = Image.new("RGB", (40, 20), BLUE)
    image.paste(RED, (0, 0, 20, 20))  # left half red as stored
    exif = image.getexif()
    exif[0x0112] = 6  # display rotated 90 degrees clockwise: the stored left side ends on top
    path = tmp_path / "rotated.jpg"
    image.save(path, exif=exif, quality=95)
    loaded = load_image(path)
    assert (loaded.image.size, loaded.original_size) == ((20, 40), (40, 20))
    assert np.abs(np.subtract(loaded.image.getpixel((10, 5)), RED)).max() <= 3
    assert np.abs(np.subtract(loaded.image.getpixel((10, 35)), BLUE)).max() <= 3
    assert "EXIF orientation 6" in loaded.notes[0]


@pytest.mark.parametrize("suffix", [".gif", ".png", ".tif", ".webp"])
def test_animated_or_multipage_gives_first_frame_with_note(tmp_path, suffix):
    frames = [Image.new("RGB", (4, 4), color) for color in (RED, GREEN, BLUE)]
    path = tmp_path / f"anim{suffix}"
    extra = {"lossless": True} if suffix == ".webp" else {}
    frames[0].save(path, save_all=True, append_images=frames[1:], **extra)
    loaded = load_image(path)
    assert loaded.image.getpixel((0, 0)) == RED
    assert "3 frames" in loaded.notes[0] and "first frame" in loaded.notes[0]


@pytest.mark.parametrize(("suffix", "extra"), [(".tif", {}), (".bmp", {}), (".webp", {"lossless": True}), (".png", {})])
def test_lossless_formats_round_trip_exactly(tmp_path, cat, suffix, extra):
    path = tmp_path / f"cat{suffix}"
    cat.save(path, **extra)
    loaded = load_image(path)
    assert loaded.image.mode == "RGB"
    np.testing.assert_array_equal(np.asarray(loaded.image), np.asarray(cat))


def test_gray_png_stays_l(tmp_path):
    path = tmp_path / "gray.png"
    Image.new("L", (3, 2), 77).save(path)
    loaded = load_image(path)
    assert (loaded.image.mode, loaded.image.getpixel((2, 1)), loaded.notes) == ("L", 77, [])


def test_no_file_handle_stays_open(tmp_path, cat):
    path = tmp_path / "cat.png"
    cat.save(path)
    loaded = load_image(path)
    assert _open_fds_to(path) == 0
    loaded.image.load()  # the pixels live in memory
    assert loaded.image.size == cat.size


# --- in-memory inputs -----------------------------------------------------------------------------


def test_array_and_pil_inputs():
    from_array = as_loaded_image(np.full((2, 3, 3), 9, dtype=np.uint8))
    from_pil = as_loaded_image(Image.new("RGBA", (1, 1), (0, 0, 0, 0)))
    assert (from_array.image.size, from_array.image.getpixel((0, 0))) == ((3, 2), (9, 9, 9))
    assert from_pil.image.getpixel((0, 0)) == (255, 255, 255)


def test_float_tiff_with_nan_and_inf_is_scaled_by_its_finite_values(tmp_path):
    path = tmp_path / "nan.tif"
    Image.fromarray(np.array([[np.nan, 0.0, 2.0, np.inf, 4.0]], dtype=np.float32)).save(path)
    loaded = load_image(path)
    assert _pixels(loaded.image) == [0, 0, 128, 0, 255]
    assert "2 of 5 pixels are NaN or Inf (shown black); the scale uses the 3 finite ones" in loaded.notes


def test_float_tiff_without_a_finite_pixel_is_an_image_error(tmp_path):
    path = tmp_path / "allnan.tif"
    Image.fromarray(np.full((2, 2), np.nan, dtype=np.float32)).save(path)
    with pytest.raises(ImageError, match=r"allnan\.tif: every one of its 4 pixels is NaN or Inf"):
        load_image(path)


def test_float_array_is_refused_with_the_fix():
    with pytest.raises(ImageError, match=r"must be uint8 .*astype\('uint8'\)"):
        as_loaded_image(np.zeros((2, 2), dtype=np.float32))


def test_to_rgb_or_l_does_not_modify_its_input():
    image = Image.new("RGBA", (2, 2), (10, 20, 30, 40))
    before = image.tobytes()
    to_rgb_or_l(image)
    assert (image.mode, image.tobytes()) == ("RGBA", before)
