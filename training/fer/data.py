"""FER2013 in the Kaggle image-folder layout: <root>/{train,test}/<class>/*.jpg.

Everything is loaded once into uint8 arrays (35,887 x 48 x 48 = 83 MB); augmentation runs on whole
batches in torch, so no DataLoader workers compete for the two cores.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from . import LABELS

DEFAULT_CANDIDATES = ("../shared/data/fer2013", "data/fer2013")


def find_dataset(explicit: str | None = None) -> Path:
    """The dataset root: --data, then $FER2013_DIR, then ../shared/data/fer2013, then data/fer2013.

    Relative defaults are tried against the current directory and the repository root.
    """
    if explicit:
        p = Path(explicit)
        if not (p / "train").is_dir():
            raise FileNotFoundError(f"--data {p}: no train/ folder there (expected <root>/train/<class>/*.jpg)")
        return p
    env = os.environ.get("FER2013_DIR")
    if env:
        p = Path(env)
        if not (p / "train").is_dir():
            raise FileNotFoundError(f"FER2013_DIR={p}: no train/ folder there")
        return p
    repo = Path(__file__).resolve().parents[2]
    for cand in DEFAULT_CANDIDATES:
        for base in (Path.cwd(), repo):
            p = (base / cand).resolve()
            if (p / "train").is_dir():
                return p
    raise FileNotFoundError(
        "FER2013 not found: pass --data <dir> or set FER2013_DIR (tried ../shared/data/fer2013 and data/fer2013)"
    )


@dataclass
class Split:
    images: np.ndarray  # uint8 [N,48,48]
    labels: np.ndarray  # int64 [N]
    paths: list[str]    # relative to the dataset root, e.g. "test/angry/PublicTest_123.jpg"

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, mask: np.ndarray) -> "Split":
        idx = np.nonzero(mask)[0]
        return Split(self.images[idx], self.labels[idx], [self.paths[i] for i in idx])


def load_split(root: Path, split: str, limit_per_class: int | None = None) -> Split:
    images, labels, paths = [], [], []
    for ci, name in enumerate(LABELS):
        folder = root / split / name
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder} is missing: the dataset must hold one folder per class {LABELS}")
        files = sorted(f for f in os.listdir(folder) if f.lower().endswith((".jpg", ".jpeg", ".png")))
        if limit_per_class is not None:
            files = files[:limit_per_class]
        for f in files:
            with Image.open(folder / f) as im:
                a = np.asarray(im.convert("L"), dtype=np.uint8)
            if a.shape != (48, 48):
                a = np.asarray(Image.fromarray(a).resize((48, 48), Image.BILINEAR), dtype=np.uint8)
            images.append(a)
            labels.append(ci)
            paths.append(f"{split}/{name}/{f}")
    return Split(np.stack(images), np.asarray(labels, dtype=np.int64), paths)


def usage_mask(split: Split, prefix: str) -> np.ndarray:
    """Select PublicTest_ / PrivateTest_ files of the test split by their file-name prefix."""
    return np.array([os.path.basename(p).startswith(prefix) for p in split.paths])


def manifest_hash(root: Path) -> str:
    """sha256 of MANIFEST.sha256 when the dataset ships one, else of the sorted file list."""
    m = root / "MANIFEST.sha256"
    if m.is_file():
        return hashlib.sha256(m.read_bytes()).hexdigest()
    h = hashlib.sha256()
    for split in ("train", "test"):
        for p in sorted((root / split).rglob("*.jpg")):
            h.update(str(p.relative_to(root)).encode())
    return h.hexdigest()


def duplicate_test_paths(root: Path) -> set[str]:
    """Test images that have a pixel-identical image in train (DUPLICATES.csv, crosses_train_test=1)."""
    import csv

    f = root / "DUPLICATES.csv"
    if not f.is_file():
        return set()
    out = set()
    with open(f, newline="") as fh:
        for row in csv.DictReader(fh):
            if row["split"] == "test" and row["crosses_train_test"] == "1":
                out.add(row["path"])
    return out
