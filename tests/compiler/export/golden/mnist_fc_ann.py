"""mnist_fc (ann target), written by snnc's Python export: a self-contained PyTorch module.

Run it without snnc:

    model = load("mnist_fc_ann.pt")   # the state dict saved beside this file
    y = model(x)                    # x: [B, 1, 28, 28]
"""

import torch
from torch import nn


class MnistFc(nn.Module):
    """mnist_fc: 795,010 parameters."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 1000, bias=True)
        self.lif1 = nn.ReLU()
        self.fc2 = nn.Linear(1000, 10, bias=True)
        self.lif2 = nn.Identity()

    def forward(self, x):
        input_1 = x
        flatten_0 = torch.flatten(input_1, 1)
        fc1 = self.fc1(flatten_0)
        lif1 = self.lif1(fc1)
        fc2 = self.fc2(lif1)
        lif2 = self.lif2(fc2)
        return lif2


def load(weights="mnist_fc_ann.pt"):
    """Build the model and load its weights (a plain state dict, read with weights_only=True)."""
    model = MnistFc()
    model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    return model.eval()


if __name__ == "__main__":
    import pathlib

    model = load(pathlib.Path(__file__).with_name("mnist_fc_ann.pt"))
    with torch.no_grad():
        out = model(torch.rand(1, 1, 28, 28))
    print(out)
