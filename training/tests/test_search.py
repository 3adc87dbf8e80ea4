"""The random search samples inside its space and subsets train/ per class; the baselines are the seed's configs."""
from __future__ import annotations

import numpy as np

from fer import baselines, search
from fer.data import Split


def test_samples_stay_in_the_space_and_depend_on_the_seed():
    a = [search.sample(np.random.default_rng(0)) for _ in range(1)]
    rng = np.random.default_rng(0)
    draws = [search.sample(rng) for _ in range(200)]
    assert draws[0] == a[0]
    for d in draws:
        assert 0.01 <= d["lr"] <= 0.4 and 0.5 <= d["momentum"] <= 0.95 and 1e-5 <= d["weight_decay"] <= 3e-3
        assert 0 <= d["dropout"] <= 0.5 and d["batch_size"] in (64, 128, 256) and 0 <= d["aug"] <= 1
    assert search.sample(np.random.default_rng(1)) != draws[0]


def test_stratified_subset_keeps_class_shares():
    labels = np.repeat(np.arange(7), [100, 10, 100, 200, 100, 100, 80])
    s = Split(np.zeros((len(labels), 48, 48), np.uint8), labels, [f"train/x/{i}.jpg" for i in range(len(labels))])
    half = search.stratified(s, 0.5, None, seed=0)
    assert np.bincount(half.labels).tolist() == [50, 5, 50, 100, 50, 50, 40]
    assert np.bincount(search.stratified(s, 0.5, 20, seed=0).labels).tolist() == [20, 5, 20, 20, 20, 20, 20]


def test_baseline_commands_are_the_seed_configs(capsys):
    assert baselines.main(["--dry-run", "--minutes", "3"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 4 and all("--time-budget-min 3.0" in c for c in lines)
    assert "--arch mycnn --optimizer sgd --lr 0.01 --momentum 0.5 --weight-decay 1e-3 --dropout 0.2" in lines[0]
    assert "--arch resnet18 --optimizer adam --lr 1e-3 --weight-decay 1e-5 --dropout 0.1" in lines[3]
