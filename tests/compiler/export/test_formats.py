"""The export formats as registered objects: names, suffixes, validated options, and dispatch by name only."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from snnc.compiler.errors import UnsupportedError
from snnc.compiler.export import FORMATS, export, get_format
from snnc.compiler.export.base import ExportFormat, ExportOptions
from snnc.compiler.targets.base import OptionsError

EXPORT_DIR = Path(__file__).resolve().parents[3] / "compiler" / "export"


@pytest.mark.parametrize("name", FORMATS.names())
def test_every_format_is_an_object_with_its_name_suffix_and_strict_options(name):
    fmt = FORMATS.get(name)
    assert isinstance(fmt, ExportFormat) and fmt.name == name and get_format(name) is fmt
    assert fmt.suffix.startswith(".") and fmt.check_title and fmt.description
    assert issubclass(fmt.Options, ExportOptions)
    assert fmt.options({}).check is False and fmt.options({"timesteps": 3}).timesteps == 3
    with pytest.raises(OptionsError, match=rf"export format '{name}': unknown option 'chek' \(did you mean 'check'\?\)"):
        fmt.options({"chek": True})


def test_formats_are_the_three_in_order():
    assert FORMATS.names() == ("onnx", "nir", "python")
    assert [FORMATS.get(n).suffix for n in FORMATS] == [".onnx", ".nir", ".py"]


def test_unknown_format_suggests_the_closest():
    with pytest.raises(UnsupportedError, match=r"unknown export format 'onxx'\. Did you mean 'onnx'\?.*onnx, nir, python"):
        export(object(), "unused.onnx", "onxx")


def test_options_are_validated_before_anything_is_exported(tmp_path):
    # An ONNX-only option given to NIR, or a bad value, is refused before the model is even looked at.
    with pytest.raises(OptionsError, match="export format 'nir': unknown option 'spikes'.*Its options: timesteps, "
                                           "check, check_inputs"):
        export(object(), tmp_path / "m.nir", "nir", spikes=False)
    with pytest.raises(OptionsError, match=r"option 'tie_tolerance': Input should be greater than or equal to 0"):
        export(object(), tmp_path / "m.onnx", tie_tolerance=-1.0)
    assert not any(tmp_path.iterdir())


def test_shared_helpers_come_from_base_not_from_another_format():
    # Why: a format must be readable on its own; what several use lives in export/base.py.
    for path in EXPORT_DIR.glob("*.py"):
        if path.name.startswith("onnx") or path.name == "__init__.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                assert not (node.module or "").startswith("onnx"), f"{path.name} imports from .{node.module}"


def test_dispatch_has_no_format_names():
    # The entry point asks the registry; no `format == "..."` ladder is left.
    source = (EXPORT_DIR / "__init__.py").read_text()
    assert 'format == "' not in source and "FORMATS" in source


def test_the_unrolled_form_is_accepted_by_every_format_and_step_only_where_there_is_one(tmp_path):
    """Callers that pass form="unrolled" to every format (as export() always allowed) keep working; a step form
    is refused by a format that has none."""
    import snnc
    from snnc.compiler.export import export

    model = snnc.compile("mnist_fc", "ann")
    export(model, tmp_path / "net.py", "python", form="unrolled")
    assert (tmp_path / "net.py").is_file()
    with pytest.raises(OptionsError, match="form"):
        export(model, tmp_path / "net2.py", "python", form="step")
