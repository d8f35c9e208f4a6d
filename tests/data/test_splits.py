"""Frame splits of a comparison on the real two-fly project (1500 frames, two flies each): the
test frames of a repeat are never labelled in it; folds test every frame once; last:N is a
contiguous block of the video; budgets are nested and the same for every line; bad input is one line."""

from __future__ import annotations

import json

import pytest

from semipose.data.splits import make_splits, parse_budget, parse_test_mode, read_pool, write_subset
from semipose.errors import ConfigError, DataFormatError


@pytest.fixture(scope="module")
def flies(sample_data, tmp_path_factory):
    pytest.importorskip("sleap_io")
    from semipose.cli import main

    out = tmp_path_factory.mktemp("flies") / "proj"
    assert main(["data", "import", str(sample_data / "sleap-flies/clip.slp"), "--format", "sleap", "--out", str(out)]) == 0
    return out


def test_last_block_folds_and_nested_budgets(flies, tmp_path):
    pool, train, val = read_pool(str(flies / "train.json"), str(flies / "val.json"))
    assert len(train) + len(val) == 1500 and len(pool["annotations"]) == 3000
    order = {int(im["id"]): im["file_name"] for im in pool["images"]}
    splits, what = make_splits(train, val, mode="last", last=300, repeats=3, order=order)
    idx = sorted(int(order[i].rsplit("#", 1)[1]) for i in splits[0].test)
    assert idx == list(range(1200, 1500)) and "last 300 frames" in what
    for s in splits:
        assert not set(s.test) & set(s.budget("all")) and len(s.budget("all")) == 1200
        assert s.budget(10) == s.budget(50)[:10]  # nested
    assert splits[0].budget(10) != splits[1].budget(10)  # another draw per repeat
    f, w = make_splits(train, val, mode="folds", repeats=4, order=order)
    tested = [i for s in f for i in s.test]
    assert sorted(tested) == sorted(set(train) | set(val)) and len(tested) == 1500
    doc = json.loads(write_subset(pool, splits[0].budget(10), tmp_path / "b10.json").read_text())
    assert len(doc["images"]) == 10 and len(doc["annotations"]) == 20 and doc["categories"] == pool["categories"]


def test_auto_and_bad_input(flies, tmp_path):
    pool, train, val = read_pool(str(flies / "train.json"), str(flies / "val.json"))
    _, what = make_splits(train, val, mode="auto", repeats=2)
    assert ("folds" in what) == (len(val) < 300)
    assert parse_budget("all") == "all" and parse_budget("10") == 10 and parse_test_mode("last:300") == ("last", 300)
    for bad in ("0", "ten", "-3"):
        with pytest.raises(ConfigError, match="label budget"):
            parse_budget(bad)
    with pytest.raises(ConfigError, match="last:N"):
        parse_test_mode("first:3")
    splits, _ = make_splits(train, val, mode="last", last=1400, repeats=1)
    with pytest.raises(ConfigError, match="leaves 100 outside its test set"):
        splits[0].budget(200)
    with pytest.raises(ConfigError, match="--repeats ≥ 2"):
        make_splits(train, val, mode="folds", repeats=1)
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(DataFormatError, match="bad.json: cannot read"):
        read_pool(str(tmp_path / "bad.json"), None)
