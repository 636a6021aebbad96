"""Which ops convert, and the errors for those that do not."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from snnc.compiler.errors import UnsupportedError
from snnc.compiler.targets.burst import LIPool, convert


class Wrap(nn.Module):
    """conv → ``op`` → mean per sample → linear, so ``op`` sits mid-network."""

    def __init__(self, op) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.op = op
        self.fc = nn.Linear(1, 2)

    def forward(self, x):
        return self.fc(self.op(self.conv(x)).flatten(1).mean(1, keepdim=True))


@pytest.mark.parametrize("op, message", [
    (torch.sigmoid, r"node 'sigmoid' \(call_function torch.sigmoid\) is not supported.*replace it with ReLU"),
    (nn.GELU(), r"node 'op' \(call_module op: GELU\) is not supported.*replace it with ReLU"),
    (lambda y: F.softmax(y, dim=1), r"node 'softmax' .*softmax is supported only as the very last op"),
    (lambda y: y.max(dim=1, keepdim=True)[0].expand(-1, 4, -1, -1),
     r"node 'max(_\d+)?' \(call_method .max\(\)\).*maximum over a dimension has no spiking equivalent"),
    (lambda y: F.relu(y) * y, r"node 'mul' \(call_function operator.mul\).*product or quotient of two activations"),
    (lambda y: y.clamp(0, 6), r"node 'clamp' .*replace it with ReLU"),
    (lambda y: F.layer_norm(y, y.shape[1:]), r"node 'layer_norm' .*normalising by statistics"),
    (lambda y: y.view(-1, 8, 8), r"node 'view' .*changes the batch dimension \(dim 0: 7 → 28\)"),
    (lambda y: torch.cat([y, y], dim=0), r"node 'cat' .*changes the batch dimension \(dim 0: 7 → 14\)"),
], ids=["sigmoid", "gelu", "softmax", "max-over-dim", "product", "relu6-clamp", "layer-norm", "view-1", "cat-0"])
def test_unsupported_op_names_the_node_the_op_and_what_to_do(op, message, images):
    with pytest.raises(UnsupportedError, match=message):
        convert(Wrap(op), images)


def test_every_problem_is_reported_at_once(images):
    model = Wrap(lambda y: torch.tanh(y) + torch.sigmoid(y))
    with pytest.raises(UnsupportedError, match=r"(?s)node 'tanh'.*node 'sigmoid'"):
        convert(model, images)


def test_batch_norm_without_running_statistics(images):
    model = Wrap(nn.BatchNorm2d(4, track_running_stats=False))
    with pytest.raises(UnsupportedError, match=r"node 'op' \(call_module op: BatchNorm2d\).*running statistics"):
        convert(model, images)


def test_max_pool_returning_indices(images):
    model = Wrap(lambda y: F.max_pool2d(y, 2, return_indices=True)[0])
    message = r"node 'max_pool2d_with_indices' .*returns indices.*return_indices=False"
    with pytest.raises(UnsupportedError, match=message):
        convert(model, images)


def test_model_with_two_inputs_or_a_tuple_output(images):
    class TwoInputs(nn.Module):
        def forward(self, x, y):
            return F.relu(x + y)

    class TupleOut(nn.Module):
        def forward(self, x):
            return F.relu(x), x

    with pytest.raises(UnsupportedError, match=r"takes 2 inputs \(x, y\).*exactly one input"):
        convert(TwoInputs(), images)
    with pytest.raises(UnsupportedError, match=r"returns tuple.*return one tensor"):
        convert(TupleOut(), images)


def test_untraceable_model(images):
    class Branchy(nn.Module):
        def forward(self, x):
            return F.relu(x) if x.sum() > 0 else x

    with pytest.raises(UnsupportedError, match=r"cannot trace Branchy with torch.fx.*symbolically traceable"):
        convert(Branchy(), images)


def test_ops_on_constants_are_fine(images, probe):
    class Scaled(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 3, 3, padding=1)
            self.log_scale = nn.Parameter(torch.tensor([0.1, -0.2, 0.3]))

        def forward(self, x):
            scale = torch.sigmoid(self.log_scale).exp()  # nonlinear, but on parameters only
            y = F.relu(self.conv(x)) * scale.reshape(1, 3, 1, 1) / 2.0 - 0.1
            return y.mean((2, 3))

    model = Scaled().eval()
    snn = convert(model, images)
    torch.testing.assert_close(snn(probe, timesteps=256), model(probe), atol=0.01, rtol=0)


@pytest.mark.parametrize("pool", [
    lambda y: F.max_pool2d(y, 3, 2),
    lambda y: F.max_pool2d(y, kernel_size=3, stride=1, padding=1),
    lambda y: torch.max_pool2d(y, 2),
    lambda y: F.adaptive_max_pool2d(y, 2),
    nn.Sequential(nn.ReLU(), nn.MaxPool2d(3, 2, ceil_mode=True)),
], ids=["F-3-2", "F-3-1-pad", "torch-2", "adaptive", "module-ceil"])
def test_max_pooling_of_any_spelling_becomes_lipool(pool, images, probe):
    torch.manual_seed(0)
    model = Wrap(pool if isinstance(pool, nn.Module) else lambda y: pool(F.relu(y))).eval()
    snn = convert(model, images)
    pools = [snn.network.get_submodule(n.target) for n in snn.network.graph.nodes if n.op == "call_module"]
    assert sum(isinstance(p, LIPool) for p in pools) == 1
    assert not [n for n in snn.network.graph.nodes if "max_pool" in str(n.target) and n.op != "call_module"]
    torch.testing.assert_close(snn(probe, timesteps=256), model(probe), atol=0.01, rtol=0)


def test_a_max_pool_module_used_twice_gives_two_lipools(images):
    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.pool = nn.Conv2d(1, 2, 3, padding=1), nn.MaxPool2d(2)

        def forward(self, x):
            return self.pool(self.pool(F.relu(self.conv(x)))).flatten(1)

    snn = convert(Twice(), images)
    names = [n.target for n in snn.network.graph.nodes if n.op == "call_module"]
    assert names == ["conv", "relu", "pool_0", "pool_1"]
