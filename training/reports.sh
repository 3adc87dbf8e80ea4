#!/usr/bin/env bash
# Everything the model card reports besides the main run, in one command (about 25 minutes on 2 cores):
# the seed report's four baselines under equal time boxes, the overfitting study, and the random search.
#   cd training && bash reports.sh
set -euo pipefail
cd "$(dirname "$0")"
py=.venv/bin/python
mkdir -p results

# 1. The seed baselines as the report ran them: no augmentation, constant learning rate, 2 minutes each.
$py -m fer.baselines --minutes 2 --extra "--aug 0 --schedule const" --results results/baselines.csv

# 2. ResNet18's overfitting made visible on a 2,100-image subset (300 per class), 10 epochs each:
#    the seed recipe (no augmentation) against the same with our augmentation and label smoothing.
$py -m fer.train --arch resnet18 --optimizer adam --lr 1e-4 --weight-decay 1e-5 --dropout 0.2 --batch-size 64 \
    --aug 0 --schedule const --epochs 10 --limit-per-class 300 --out runs/overfit/resnet18-seed
$py -m fer.train --arch resnet18 --optimizer adam --lr 1e-4 --weight-decay 1e-5 --dropout 0.2 --batch-size 64 \
    --aug 0.8 --label-smoothing 0.1 --schedule const --epochs 10 --limit-per-class 300 --out runs/overfit/resnet18-aug
$py -m fer.plots runs/overfit/resnet18-seed runs/overfit/resnet18-aug --out ../models/card

# 3. Random search: 5 trials of 1.5 minutes on half of train/, EmoNet, every trial in results/search.csv.
$py -m fer.search --trials 5 --minutes-per-trial 1.5 --train-fraction 0.5 --seed 0
