"""The report's plots name each group by the settings that differ between groups (not by the whole cell id), a
colour per spec and a marker per target, and keep a long legend beside the axes."""

from __future__ import annotations

from pathlib import Path

from snnc.runtime.study.collect import Column, Group, StudyResults
from snnc.runtime.study.plots import _styles, plot_pareto, short_labels


def _group(spec: str, params: dict, target: str, acc: float, energy: float) -> Group:
    settings = {"spec_label": spec, "params": params, "target_label": target, "dataset_label": "cifar10",
                "recipe": "r"}
    name = f"{spec}-{'-'.join(f'{k}={v}' for k, v in params.items())}-{target}-cifar10-r"
    stats = {"accuracy": {"mean": acc, "std": None, "n": 1}, "energy_uj": {"mean": energy, "std": None, "n": 1}}
    return Group(name, settings, [], stats)


def _results(groups: list[Group]) -> StudyResults:
    columns = [Column("accuracy", "accuracy (%)", "percent"), Column("energy_uj", "energy (μJ)", "energy")]
    return StudyResults("s", "", Path("."), columns, [], groups)


def test_labels_keep_only_what_differs_and_styles_follow_spec_and_target(tmp_path: Path):
    groups = [_group(spec, {"width": w}, t, 0.5, 10.0 * (i + 1)) for i, (spec, w, t) in
              enumerate([("vgg", 16, "ann"), ("vgg", 16, "snn"), ("resnet", 8, "ann"), ("resnet", 8, "snn")])]
    results = _results(groups)
    assert list(short_labels(results).values()) == ["vgg · ann", "vgg · snn", "resnet · ann", "resnet · snn"]
    styles = _styles(results)
    assert styles[groups[0].name][0] == styles[groups[1].name][0] != styles[groups[2].name][0]
    assert styles[groups[0].name][1] == styles[groups[2].name][1] != styles[groups[1].name][1]
    # one spec at two widths: the parameter is what tells them apart
    two = _results([_group("vgg", {"width": 8}, "ann", 0.4, 1.0), _group("vgg", {"width": 16}, "ann", 0.5, 2.0)])
    assert list(short_labels(two).values()) == ["width=8", "width=16"]
    path = plot_pareto(results, tmp_path / "p.png")
    assert path is not None and path.read_bytes().startswith(b"\x89PNG")
