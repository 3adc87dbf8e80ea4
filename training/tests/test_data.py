"""The FER2013 loader: counts, paths, usage masks, duplicates, manifest, and the error when the data is missing."""
from __future__ import annotations

import numpy as np
import pytest

from fer import LABELS, data

# SOURCE.md of the shared copy: test images per class in PublicTest_ and PrivateTest_.
PUBLIC = {"angry": 467, "disgust": 56, "fear": 496, "happy": 895, "neutral": 607, "sad": 653, "surprise": 415}
PRIVATE = {"angry": 491, "disgust": 55, "fear": 528, "happy": 879, "neutral": 626, "sad": 594, "surprise": 416}
MANIFEST_SHA256 = "ba23a043626a58bb104f5bf743f2127d5207f5adb6ab67f91f0f995381fa8f1e"


def test_missing_dataset_says_how_to_point_at_it(tmp_path, monkeypatch):
    monkeypatch.delenv("FER2013_DIR", raising=False)
    monkeypatch.setattr(data, "DEFAULT_CANDIDATES", ("no/such/folder",))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"--data .*FER2013_DIR"):
        data.find_dataset()
    with pytest.raises(FileNotFoundError, match="no train/ folder"):
        data.find_dataset(str(tmp_path))
    monkeypatch.setenv("FER2013_DIR", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="FER2013_DIR="):
        data.find_dataset()


def test_missing_class_folder_is_named(tmp_path):
    (tmp_path / "train" / "angry").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="disgust is missing"):
        data.load_split(tmp_path, "train")


def test_limit_per_class_loads_that_many_of_each_class(dataset_root):
    s = data.load_split(dataset_root, "train", limit_per_class=5)
    assert len(s) == 5 * len(LABELS)
    assert s.images.shape == (35, 48, 48) and s.images.dtype == np.uint8
    assert np.bincount(s.labels, minlength=7).tolist() == [5] * 7
    for path, label in zip(s.paths, s.labels):
        split, cls, name = path.split("/")
        assert split == "train" and cls == LABELS[label] and name.startswith("Training_")


def test_usage_masks_split_the_test_set_as_published(test_split):
    pub = data.usage_mask(test_split, "PublicTest_")
    priv = data.usage_mask(test_split, "PrivateTest_")
    assert len(test_split) == 7178
    assert not (pub & priv).any() and (pub | priv).all()
    assert dict(zip(LABELS, np.bincount(test_split.labels[pub], minlength=7).tolist())) == PUBLIC
    assert dict(zip(LABELS, np.bincount(test_split.labels[priv], minlength=7).tolist())) == PRIVATE


def test_duplicates_and_manifest(dataset_root, test_split):
    dups = data.duplicate_test_paths(dataset_root)
    assert len(dups) == 568
    assert dups <= set(test_split.paths)
    assert data.manifest_hash(dataset_root) == MANIFEST_SHA256
