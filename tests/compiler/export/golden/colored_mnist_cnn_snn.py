"""colored_mnist_cnn (snn target), written by snnc's Python export: a self-contained PyTorch + snnTorch module.

Run it without snnc:

    model = load("colored_mnist_cnn_snn.pt")   # the state dict saved beside this file
    spk, mem = model(x)             # x: [B, 3, 28, 28]; spk, mem: [T, B, ...]
    scores = model.scores(x)        # rate decoding
"""

import torch
from torch import nn
import snntorch as snn
from snntorch import surrogate


class ColoredMnistCnn(nn.Module):
    """colored_mnist_cnn: 30,426 parameters. Runs 25 time steps, direct encoding."""

    def __init__(self):
        super().__init__()
        self.timesteps = 25
        self.conv1 = nn.Conv2d(3, 12, kernel_size=(5, 5), stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1, bias=True)
        self.pool1 = nn.MaxPool2d(kernel_size=(2, 2), stride=(2, 2), padding=(0, 0), dilation=1, ceil_mode=False)
        self.lif1 = snn.Leaky(beta=0.5, threshold=1.0, spike_grad=surrogate.fast_sigmoid(slope=25.0), reset_mechanism='subtract', learn_threshold=False, learn_beta=False)
        self.conv2 = nn.Conv2d(12, 64, kernel_size=(5, 5), stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1, bias=True)
        self.pool2 = nn.MaxPool2d(kernel_size=(2, 2), stride=(2, 2), padding=(0, 0), dilation=1, ceil_mode=False)
        self.lif2 = snn.Leaky(beta=0.5, threshold=1.0, spike_grad=surrogate.fast_sigmoid(slope=25.0), reset_mechanism='subtract', learn_threshold=False, learn_beta=False)
        self.fc1 = nn.Linear(1024, 10, bias=True)
        self.lif3 = snn.Leaky(beta=0.5, threshold=1.0, spike_grad=surrogate.fast_sigmoid(slope=25.0), reset_mechanism='subtract', learn_threshold=False, learn_beta=False)

    def forward(self, x):
        """Spikes and membrane of the output layer, each [T, B, ...] (the snnTorch loop, step by step)."""
        mem_lif1 = None
        mem_lif2 = None
        mem_lif3 = None
        spk_rec, mem_rec = [], []
        for step in range(self.timesteps):
            input_1 = x
            conv1 = self.conv1(input_1)
            pool1 = self.pool1(conv1)
            mem_lif1 = torch.zeros_like(pool1) if mem_lif1 is None else mem_lif1
            lif1, mem_lif1 = self.lif1(pool1, mem_lif1)
            conv2 = self.conv2(lif1)
            pool2 = self.pool2(conv2)
            mem_lif2 = torch.zeros_like(pool2) if mem_lif2 is None else mem_lif2
            lif2, mem_lif2 = self.lif2(pool2, mem_lif2)
            flatten = torch.flatten(lif2, 1)
            fc1 = self.fc1(flatten)
            mem_lif3 = torch.zeros_like(fc1) if mem_lif3 is None else mem_lif3
            lif3, mem_lif3 = self.lif3(fc1, mem_lif3)
            spk_rec.append(lif3)
            mem_rec.append(mem_lif3)
        return torch.stack(spk_rec), torch.stack(mem_rec)

    def scores(self, x):
        """Decoded scores [B, ...] (rate decoding)."""
        spk, mem = self(x)
        return spk.mean(0)


def load(weights="colored_mnist_cnn_snn.pt"):
    """Build the model and load its weights (a plain state dict, read with weights_only=True)."""
    model = ColoredMnistCnn()
    model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    return model.eval()


if __name__ == "__main__":
    import pathlib

    model = load(pathlib.Path(__file__).with_name("colored_mnist_cnn_snn.pt"))
    with torch.no_grad():
        out = model.scores(torch.rand(1, 3, 28, 28))
    print(out)
