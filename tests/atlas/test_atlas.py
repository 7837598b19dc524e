"""The atlas separates planted classes; the shuffled-label control does not; cells follow an independent oracle."""

from __future__ import annotations

import numpy as np
import pytest

from layerscope.atlas import atlas, atlas_of, bin_cells, draw_atlas
from layerscope.atlas.draw import label_colours
from layerscope.errors import InputError

from .planted import planted_images, planted_net

# Kaufman and Rousseeuw read a silhouette above 0.5 as "a reasonable structure" and above 0.7 as "a strong one";
# points laid out at random by label score about 0. The planted classes must show at least a reasonable one.
SEPARATED = 0.5
MIXED = 0.1


@pytest.fixture(scope="module")
def planted():
    images, labels = planted_images()
    return atlas_of(planted_net(), images, layer="3", labels=labels, names=[f"img{i}.png" for i in range(len(labels))],
                    grid=12, seed=0), labels


@pytest.mark.slow
def test_the_layout_separates_the_planted_classes(planted):
    result, _ = planted
    assert result.silhouette() >= SEPARATED


@pytest.mark.slow
def test_shuffled_labels_are_a_control_near_zero(planted):
    result, labels = planted
    shuffled = np.random.default_rng(1).permutation(labels)
    assert abs(result.silhouette(shuffled)) < MIXED


@pytest.mark.slow
def test_the_same_seed_gives_the_same_layout(planted):
    result, labels = planted
    images, _ = planted_images()
    again = atlas_of(planted_net(), images, layer="3", labels=labels, grid=12, seed=0)
    np.testing.assert_array_equal(again.coords, result.coords)


@pytest.mark.slow
def test_cells_hold_every_point_once_and_keep_the_thumbnails_of_their_top_members(planted):
    result, labels = planted
    members = np.concatenate(result.members)
    assert sorted(members.tolist()) == list(range(len(labels)))
    for cell in result.cells:
        assert set(cell.top.tolist()) <= set(cell.members.tolist()) and 1 <= len(cell.top) <= 4
        assert all(result.thumbnails[i].shape == (32, 32, 3) for i in cell.top.tolist())


def test_cells_match_a_brute_force_oracle():
    rng = np.random.default_rng(0)
    coords = rng.random((300, 2)).astype(np.float32)
    cells = bin_cells(coords, (5, 7), top=3)
    for cell in cells:
        inside = [i for i, (x, y) in enumerate(coords)
                  if min(int(x * 7), 6) == cell.col and min(int((1 - y) * 5), 4) == cell.row]
        assert sorted(cell.members.tolist()) == inside
        centre = np.array([(cell.col + 0.5) / 7, 1 - (cell.row + 0.5) / 5])
        by_distance = sorted(inside, key=lambda i: float(np.hypot(*(coords[i] - centre))))
        assert cell.top.tolist() == by_distance[:3]
    assert sum(len(c.members) for c in cells) == 300


def test_the_picture_frames_each_cell_in_its_label_colour_and_leaves_the_atlas_untouched():
    rng = np.random.default_rng(0)
    vectors = np.concatenate([rng.normal(0, 1, (30, 6)), rng.normal(9, 1, (30, 6))])
    thumbs = [np.full((8, 8, 3), 40, np.uint8)] * 60
    result = atlas(vectors, images=thumbs, labels=["a"] * 30 + ["b"] * 30, grid=6, seed=0)
    coords = result.coords.copy()
    picture = draw_atlas(result, cell=20, border=2)
    assert picture.shape == (120, 120, 3) and picture.dtype == np.uint8
    colours = label_colours(["a", "b"])
    for cell in result.cells:
        y, x = cell.row * 20, cell.col * 20
        assert tuple(picture[y, x]) == colours[cell.label]
        assert tuple(picture[y + 10, x + 10]) == (40, 40, 40)
    np.testing.assert_array_equal(result.coords, coords)


def test_per_position_points_carry_their_receptive_field_crops():
    images, labels = planted_images(per_class=3)
    result = atlas_of(planted_net(), images, layer="1", per="position", labels=labels, max_points=40, grid=4, seed=0,
                      thumbnail=5)
    assert len(result) == 40 and all(name.startswith("#") for name in result.names)
    # conv 5x5 -> each position's crop is the 5x5 patch it reads
    assert {t.shape for t in result.thumbnails.values()} == {(5, 5, 3)}


def test_bad_inputs_name_the_fix():
    with pytest.raises(InputError, match="one per vector"):
        atlas(np.zeros((10, 3)), labels=["a"])
    with pytest.raises(InputError, match="grid"):
        atlas(np.random.rand(10, 3), grid=0)
    with pytest.raises(InputError, match="per='image'|'image'"):
        atlas_of(planted_net(), planted_images(per_class=1)[0], layer="3", per="pixels")


@pytest.mark.slow
def test_an_activation_store_gives_the_same_vectors_and_its_image_files_as_pictures(tmp_path):
    import layerscope as ls
    from layerscope.atlas import atlas_of_store
    from layerscope.zoo import write_sample_images

    files = write_sample_images(tmp_path / "digits", count=12, photos=(), overwrite=True)
    ls.dump("builtin:digits", [str(f) for f in files], layers=["fc1"], out=tmp_path / "store", dtype="float32",
            progress=False)
    result = atlas_of_store(tmp_path / "store", layer="fc1", grid=4, seed=0)
    assert len(result) == 12 and result.layer == "fc1"
    assert sorted(result.names) == sorted(str(f) for f in files)
    assert result.thumbnails and all(t.shape == (32, 32, 3) and t.max() > t.min() for t in result.thumbnails.values())
