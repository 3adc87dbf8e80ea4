"""The three classifiers: the seed report's myCNN and ResNet18, and EmoNet, the model we ship.

Every model takes raw grayscale values 0..255, shape [N,1,48,48], and normalises inside the graph
(mean 0.52, std 0.26 of the [0,1] range, as in the seed report), so the exported ONNX needs no
pre-processing beyond the crop.
"""
from __future__ import annotations

import torch
from torch import nn

MEAN, STD = 0.52, 0.26


class Normalize(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x * (1.0 / 255.0) - MEAN) * (1.0 / STD)


def conv_bn(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class MyCNN(nn.Module):
    """The seed report's plain CNN: 4 blocks of 2 conv3x3 (32→256), BatchNorm after every conv, max-pool."""

    def __init__(self, dropout: float = 0.2, num_classes: int = 7):
        super().__init__()
        layers: list[nn.Module] = [Normalize()]
        cin = 1
        for cout in (32, 64, 128, 256):
            layers += [conv_bn(cin, cout), conv_bn(cout, cout), nn.MaxPool2d(2)]
            cin = cout
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(
            nn.Flatten(), nn.Dropout(dropout), nn.Linear(256 * 3 * 3, 256), nn.BatchNorm1d(256),
            nn.ReLU(inplace=True), nn.Dropout(dropout), nn.Linear(256, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class ResNet18(nn.Module):
    """torchvision's ResNet18 with a 1-channel stem, fed 48x48 (the report upscaled to 224; 2 CPU cores can't)."""

    def __init__(self, dropout: float = 0.2, num_classes: int = 7):
        super().__init__()
        from torchvision.models import resnet18

        net = resnet18(num_classes=num_classes)
        net.conv1 = nn.Conv2d(1, 64, 7, 2, 3, bias=False)
        net.fc = nn.Sequential(nn.Dropout(dropout), nn.Linear(512, num_classes))
        self.norm = Normalize()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.norm(x))


class Block(nn.Module):
    """Pre-activation-free basic residual block (conv-BN-ReLU-conv-BN + shortcut)."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.b1 = nn.BatchNorm2d(cout)
        self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.b2 = nn.BatchNorm2d(cout)
        self.short = None
        if stride != 1 or cin != cout:
            self.short = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x if self.short is None else self.short(x)
        y = self.relu(self.b1(self.c1(x)))
        y = self.b2(self.c2(y))
        return self.relu(y + s)


class EmoNet(nn.Module):
    """The shipped model: a compact residual net sized for ~1 ms per face on one CPU thread.

    48² →stem s2→ 32@24² → 64@12² → 128@6² → 256@3², one basic block per stage (~36 M multiply-adds, 1.2 M params).
    """

    def __init__(self, dropout: float = 0.2, num_classes: int = 7, widths=(32, 64, 128, 256)):
        super().__init__()
        w = widths
        self.norm = Normalize()
        self.stem = conv_bn(1, w[0], stride=2)
        self.stages = nn.Sequential(Block(w[0], w[0], 1), Block(w[0], w[1], 2), Block(w[1], w[2], 2), Block(w[2], w[3], 2))
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(w[3], num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.stages(self.stem(self.norm(x))))


ARCHS = {"mycnn": MyCNN, "resnet18": ResNet18, "emonet": EmoNet}


def build(arch: str, dropout: float) -> nn.Module:
    if arch not in ARCHS:
        raise ValueError(f"unknown --arch {arch}; choose one of {sorted(ARCHS)}")
    return ARCHS[arch](dropout=dropout)


def count_macs(model: nn.Module) -> int:
    """Multiply-adds of one 48x48 image through conv and linear layers (what dominates CPU time)."""
    macs = 0

    def conv_hook(m, _inp, out):
        nonlocal macs
        macs += out.numel() // out.shape[0] * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]

    def lin_hook(m, _inp, out):
        nonlocal macs
        macs += m.in_features * m.out_features

    run_with_hooks(model, {nn.Conv2d: conv_hook, nn.Linear: lin_hook})
    return macs


def run_with_hooks(model: nn.Module, hooks: dict) -> None:
    """One eval-mode forward pass of a blank 48x48 image with a forward hook on every module of each type in `hooks`
    ({module type: hook(module, inputs, output)}); the hooks are removed and the train/eval mode restored after."""
    handles = [m.register_forward_hook(fn) for m in model.modules() for t, fn in hooks.items() if isinstance(m, t)]
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, 1, 48, 48))
    finally:
        model.train(was)
        for h in handles:
            h.remove()
