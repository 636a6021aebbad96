"""docs/architecture.md's "Adding one" lists are true: a fifth target, a new training method, a new export format
and a new dataset each work after exactly the steps the list names — a module with the object, and one line in
its registry — and nothing else (no CLI, runtime or pipeline file is touched).

Each toy is written as a module in a temporary folder on ``sys.path`` and its registry line is added for the test
only (``monkeypatch`` of the registry's table), then used the way a user would: compiled, trained, exported,
loaded, and listed by the command line.
"""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from snnc.compiler.export.registry import FORMATS
from snnc.compiler.targets.registry import TARGETS
from snnc.runtime.data.registry import DATASETS
from snnc.runtime.methods import METHODS

TINY = """\
name: tiny
input: {shape: [1, 28, 28], range: [0, 1]}
timesteps: 2
neuron: {model: leaky, beta: 0.9, threshold: 1.0, reset: subtract}
layers:
  - {name: flat, kind: flatten}
  - {name: fc1, kind: linear, out_features: 16}
  - {name: sn1, kind: spike}
  - {name: fc2, kind: linear, out_features: 10}
"""

MODULES = {
    # the list for a target: compiler/targets/<name>.py with TARGET, and a line in compiler/targets/registry.py
    "toy_target": '''
        from snnc.compiler.targets.ann import AnnTarget

        class ToyTarget(AnnTarget):
            """The ann network with every output doubled: a target that is not one of the four."""
            name = "toy"
            description = "the ann, outputs doubled (a test's fifth target)"

            def build(self, ann, options, *, calibration=None, consume=False):
                import torch
                net = super().build(ann, options, calibration=calibration, consume=consume)
                net.register_forward_hook(lambda module, args, out: 2 * out)
                return net

        TARGET = ToyTarget()
    ''',
    # a method: runtime/methods/<name>.py with a Method subclass, and a line in runtime/methods/__init__.py
    "toy_method": '''
        from snnc.runtime.methods.base import Method, StepOutput

        class Halved(Method):
            """The run's loss, halved: a method that is not one of the seven."""
            name = "halved"
            description = "half the run's loss (a test's method)"

            def step(self, model, batch, info):
                output = model(batch.x)
                return StepOutput(0.5 * self.context.loss_fn(output, batch.y), output)
    ''',
    # a format: compiler/export/<name>.py with FORMAT, and a line in compiler/export/registry.py
    "toy_format": '''
        import json
        from snnc.compiler.artifact import atomic_write_bytes
        from snnc.compiler.export.base import ExportFormat

        class ShapesFormat(ExportFormat):
            """Every parameter's name and shape as JSON."""
            name = "shapes"
            description = "parameter shapes as JSON (a test's format)"
            suffix = ".json"

            def export(self, model, path, options):
                shapes = {k: list(v.shape) for k, v in model.state_dict().items()}
                atomic_write_bytes(path, json.dumps(shapes).encode())
                return shapes

        FORMAT = ShapesFormat()
    ''',
    # a dataset: runtime/data/<name>.py with a DatasetEntry, and a line in runtime/data/registry.py
    "toy_dataset": '''
        import torch
        from pydantic import Field
        from snnc.runtime.data.entry import DatasetEntry, DatasetInfo, DatasetOptions

        class Options(DatasetOptions):
            count: int = Field(64, ge=1, le=4096, description="images per split")

        def read(split, data_dir, normalize, limit, options):
            g = torch.Generator().manual_seed(0 if split == "train" else 1)
            n = options.count if limit is None else min(limit, options.count)
            y = torch.randint(0, 10, (n,), generator=g)
            x = torch.zeros(n, 1, 28, 28)
            x[torch.arange(n), 0, y, :] = 1.0  # row y lit: learnable
            return torch.utils.data.TensorDataset(x, y)

        INFO = DatasetInfo(name="stripes", title="Stripes", task="classification", channels=1, size=(28, 28),
                           class_names=tuple(str(i) for i in range(10)), mean=(0.036,), std=(0.18,),
                           counts={"train": 64, "test": 64}, folder="stripes", license="made by the test")
        STRIPES = DatasetEntry(INFO, read, Options)
    ''',
}


@pytest.fixture
def toys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The four toy modules importable, and one line each in the four registries."""
    for name, source in MODULES.items():
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
    monkeypatch.syspath_prepend(str(tmp_path))
    for registry, name, path in ((TARGETS, "toy", "toy_target:TARGET"), (METHODS, "halved", "toy_method:Halved"),
                                 (FORMATS, "shapes", "toy_format:FORMAT"),
                                 (DATASETS, "stripes", "toy_dataset:STRIPES")):
        monkeypatch.setitem(registry._paths, name, path)
    yield tmp_path
    for name in MODULES:
        sys.modules.pop(name, None)
    for registry, name in ((TARGETS, "toy"), (METHODS, "halved"), (FORMATS, "shapes"), (DATASETS, "stripes")):
        registry._loaded.pop(name, None)


def test_a_fifth_target_compiles_trains_saves_and_is_listed(toys: Path):
    import snnc
    from snnc.cli import app
    from snnc.runtime.train import train

    spec = toys / "tiny.yaml"
    spec.write_text(TINY)
    torch.manual_seed(0)
    ann = snnc.compile(spec, "ann")
    torch.manual_seed(0)
    toy = snnc.compile(spec, "toy")
    x = torch.rand(3, 1, 28, 28)
    torch.testing.assert_close(toy(x), 2 * ann(x))
    result = train(spec, target="toy", dataset="stripes", run_dir=toys / "run", epochs=1, batch_size=16,
                   progress=False, plots=False, val_fraction=0)
    assert result.best_checkpoint.is_file()
    loaded = snnc.load(result.best_checkpoint)
    assert snnc.compiler.pipeline.target_of(loaded).name == "toy"
    listed = CliRunner().invoke(app, ["targets"], env={"COLUMNS": "200"})
    assert listed.exit_code == 0 and "toy" in listed.output and "outputs doubled" in listed.output


def test_a_new_method_trains_through_the_trainer(toys: Path):
    from snnc.runtime.train import train

    spec = toys / "tiny.yaml"
    spec.write_text(TINY)
    runs = {}
    for method in ("erm", "halved"):
        runs[method] = train(spec, target="ann", dataset="stripes", method=method, run_dir=toys / method,
                             epochs=1, batch_size=16, lr=1e-3, optimizer="sgd", progress=False, plots=False,
                             val_fraction=0, seed=0)
    losses = {m: json.loads((toys / m / "metrics.json").read_text())["epochs"][0]["batch_losses"] for m in runs}
    assert losses["halved"][0] == pytest.approx(0.5 * losses["erm"][0], rel=1e-5)


def test_a_new_export_format_writes_through_export(toys: Path):
    import snnc
    from snnc.compiler.export import export

    spec = toys / "tiny.yaml"
    spec.write_text(TINY)
    model = snnc.compile(spec, "ann")
    export(model, toys / "net.json", format="shapes")
    assert json.loads((toys / "net.json").read_text()) == {k: list(v.shape) for k, v in model.state_dict().items()}
    with pytest.raises(snnc.SnncError, match="Did you mean 'shapes'"):
        export(model, toys / "x.json", format="shapez")


def test_a_new_dataset_loads_with_validated_options(toys: Path):
    from snnc.compiler.errors import SnncError
    from snnc.runtime.data import load_dataset

    data = load_dataset("stripes", "train", count=32)
    assert len(data) == 32
    x, y = data[0]
    assert x.shape == (1, 28, 28) and x[0, int(y)].sum() == 28
    with pytest.raises(SnncError, match="count"):
        load_dataset("stripes", "train", count=0)
    with pytest.raises(SnncError, match="did you mean 'count'"):
        load_dataset("stripes", "train", cuont=3)
