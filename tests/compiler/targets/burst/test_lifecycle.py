"""Each step of the rewrite on its own: trace and normalise, observe, calibrate, replace, finalise."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import fx, nn

from snnc.compiler.targets.burst import BurstNeuron, LIPool
from snnc.compiler.targets.burst.fold_bn import fold_batch_norm
from snnc.compiler.targets.burst.observe import ActivationObserver, calibrate, insert_observers, percentile
from snnc.compiler.targets.burst.ops import spike_inputs
from snnc.compiler.targets.burst.support import check_supported
from snnc.compiler.targets.burst.replace import finalize, replace_activations, replace_max_pooling
from snnc.compiler.targets.burst.trace import (
    functionalize_inplace, propagate_shapes, remove_dropout, split_head, trace,
)


def call_modules(gm: fx.GraphModule) -> dict[str, type]:
    return {n.target: type(gm.get_submodule(n.target)) for n in gm.graph.nodes if n.op == "call_module"}


def test_trace_copies_and_keeps_our_modules_as_leaves():
    model = nn.Sequential(nn.Linear(3, 3), BurstNeuron(1.0), LIPool(nn.MaxPool1d(1)))
    gm = trace(model)
    assert call_modules(gm) == {"0": nn.Linear, "1": BurstNeuron, "2": LIPool}
    assert gm.get_submodule("0") is not model[0]


def test_functionalize_inplace_makes_later_readers_see_the_result():
    class InPlace(nn.Module):
        def forward(self, x):
            y = x * 2
            y.relu_()
            y.add_(1)
            return y - x  # reads the rectified, incremented y; x itself is unchanged

    x = torch.randn(4, 5)
    gm = functionalize_inplace(trace(InPlace()))
    assert [n.target for n in gm.graph.nodes if n.op == "call_method"] == ["relu", "add"]
    torch.testing.assert_close(gm(x), InPlace()(x.clone()))


def test_remove_dropout_module_and_functional():
    class Drop(nn.Module):
        def __init__(self):
            super().__init__()
            self.drop = nn.Dropout2d(0.5)

        def forward(self, x):
            return F.dropout(self.drop(x), p=0.3, training=True)

    gm = remove_dropout(trace(Drop()))
    assert [n.op for n in gm.graph.nodes] == ["placeholder", "output"]


def test_split_head_keeps_logits_in_the_graph():
    class LogSoftmax(nn.Module):
        def forward(self, x):
            return (x * 2).log_softmax(dim=-1)

    gm = trace(LogSoftmax())
    head = split_head(gm)
    x = torch.randn(3, 4)
    torch.testing.assert_close(gm(x), x * 2)
    torch.testing.assert_close(head(gm(x)), LogSoftmax()(x))
    assert split_head(gm) is None  # nothing left to split


def test_percentile_matches_torch_quantile():
    values = torch.rand(3, 1001)
    for q in (50.0, 99.0, 99.99, 100.0):
        torch.testing.assert_close(percentile(values, q), torch.quantile(values, q / 100, dim=1))


def test_observer_thresholds_channelwise_and_dead_channels():
    observer = ActivationObserver("max", channelwise=True)
    x = torch.zeros(4, 3, 2, 2)
    x[:, 0] = 2.0
    x[:, 1] = -1.0  # never active: falls back to the largest channel threshold
    x[0, 2, 0, 0] = 0.5
    observer(x)
    torch.testing.assert_close(observer.threshold(), torch.tensor([2.0, 2.0, 0.5]).reshape(3, 1, 1))
    assert observer.neurons == 12
    layer = ActivationObserver("percentile", q=50.0)
    layer(torch.arange(-5.0, 6.0).reshape(1, 11))
    torch.testing.assert_close(layer.threshold(), torch.tensor(5.0))  # median 0 → the largest activation
    silent = ActivationObserver()
    silent(-torch.ones(2, 3))
    torch.testing.assert_close(silent.threshold(), torch.tensor(1.0))


def test_observe_calibrate_replace_finalize_step_by_step(cnn, images):
    gm = trace(cnn)
    remove_dropout(gm)
    propagate_shapes(gm, images[:7])
    check_supported(gm)
    fold_batch_norm(gm)
    observers = insert_observers(gm, "percentile", 99.0)
    assert list(observers) == ["features.2", "features.6", "features.9", "classifier.3"]
    assert calibrate(gm, images.split(16), max_batches=2) == 32
    assert all(len(o.records) == 2 for o in observers.values())
    first = observers["features.2"]
    neurons = replace_activations(gm, observers, gamma=3, v_init=0.0)
    torch.testing.assert_close(neurons["features.2"].threshold, first.threshold())
    pools = replace_max_pooling(gm)
    assert list(pools) == ["features.3", "features.7"]
    finalize(gm)
    kinds = call_modules(gm)
    assert ActivationObserver not in kinds.values() and nn.MaxPool2d not in kinds.values()
    assert sum(k is BurstNeuron for k in kinds.values()) == 4
    assert spike_inputs(gm)["features.4"] is True


def test_functional_sites_are_named_after_their_module_scope():
    class Inner(nn.Module):
        def forward(self, x):
            return F.relu(x) + torch.relu(-x).relu()

    class Outer(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = Inner()

        def forward(self, x):
            return self.inner(x).clamp_min(0)

    gm = trace(Outer())
    observers = insert_observers(gm)
    assert list(observers) == ["inner.relu", "inner.relu_1", "inner.relu_2", "clamp_min"]


@pytest.mark.parametrize("name", ["forward", "graph", "training"])
def test_site_names_never_shadow_module_attributes(name):
    class Clash(nn.Module):
        def forward(self, x):
            return F.relu(x)

    gm = trace(Clash())
    node = next(n for n in gm.graph.nodes if n.op == "call_function")
    node.name = name
    observers = insert_observers(gm)
    assert list(observers) == [f"{name}_1"]
    assert callable(gm.forward) and isinstance(gm.graph, fx.Graph)
