"""core/names.py: one "choose from these names" rule and one safe file name."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from layerscope.core.names import choose, safe_name
from layerscope.errors import InputError, LayerscopeError


def test_choose_returns_a_known_name():
    assert choose("grid", ("grid", "mean"), "view") == "grid"


def test_choose_names_the_value_the_close_names_all_names_and_the_hint():
    with pytest.raises(InputError) as caught:
        choose("mena", ["grid", "mean"], "view", hint="See `layerscope show --help`.")
    assert str(caught.value) == ("Unknown view 'mena'. Did you mean 'mean'? Choose from: grid, mean. "
                                 "See `layerscope show --help`.")
    assert isinstance(caught.value, LayerscopeError)


def test_choose_without_a_close_name_still_lists_them():
    with pytest.raises(InputError, match=r"^Unknown order 'zzz'\. Choose from: index, std\.$"):
        choose("zzz", ["index", "std"], "order")


@given(st.text())
def test_safe_name_is_portable_and_stable(text):
    name = safe_name(text)
    assert name and all(c.isascii() and (c.isalnum() or c in "._-") for c in name)
    assert not name.startswith((".", "_")) and name not in (".", "..")
    assert safe_name(name) == name


@pytest.mark.parametrize(("text", "expected"), [("features.0", "features.0"), ("a/b\\c:d", "a_b_c_d"),
                                                ("../etc", "etc"), ("", "layer"), ("ü", "layer")])
def test_safe_name_examples(text, expected):
    assert safe_name(text, empty="layer") == expected
