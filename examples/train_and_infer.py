"""Trains a small classifier on gems, then runs inference with it.

The model (Linear, LayerNorm, GELU, softmax cross-entropy) learns to tell the
arms of three interleaved spirals apart. Every op runs on the gems device of
whatever vendor the probe picked; the report says how many op calls ran gems
kernels and how many went through the fallback (and which ops those were).
"""
import argparse
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

import flag_gems
from report import print_op_report


def spirals(n_per_class: int, classes: int = 3, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    xs, ys = [], []
    for c in range(classes):
        r = torch.linspace(0.1, 1.0, n_per_class)
        theta = torch.linspace(0, 4, n_per_class) + c * 2 * math.pi / classes
        theta = theta + torch.randn(n_per_class, generator=g) * 0.15
        xs.append(torch.stack([r * torch.sin(theta), r * torch.cos(theta)], dim=1))
        ys.append(torch.full((n_per_class,), c))
    return torch.cat(xs), torch.cat(ys)


class Classifier(nn.Module):
    def __init__(self, hidden: int = 64, classes: int = 3):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2, hidden), nn.LayerNorm(hidden), nn.GELU(),
                                 nn.Linear(hidden, hidden), nn.LayerNorm(hidden), nn.GELU(),
                                 nn.Linear(hidden, classes))

    def forward(self, x):
        return self.net(x)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=300)
    args = parser.parse_args()

    device = flag_gems.device
    torch.manual_seed(0)
    x, y = spirals(300)
    x, y = x.to(device), y.to(device)
    model = Classifier().to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)

    flag_gems.reset_counts()
    start = time.perf_counter()
    for step in range(args.steps):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        if step % 100 == 0 or step == args.steps - 1:
            print(f"step {step:4d}  loss {loss.item():.4f}")
    train_s = time.perf_counter() - start

    with torch.no_grad():
        test_x, test_y = spirals(200, seed=1)
        probs = torch.softmax(model(test_x.to(device)), dim=-1)
        accuracy = (probs.argmax(dim=-1).cpu() == test_y).float().mean().item()

    print(f"\nvendor: {flag_gems.vendor_name} ({torch.gems.get_device_name()})")
    print(f"trained {args.steps} steps in {train_s:.2f} s; test accuracy {accuracy:.3f}")
    print_op_report()


if __name__ == "__main__":
    main()
