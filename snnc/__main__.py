"""The ``snnc`` command's entry point (``snnc ...`` and ``python -m snnc ...``)."""

import gc
import os
import sys


def run() -> None:
    """Run the command line in this process."""
    # Why: a command allocates about a million long-lived objects while it starts (torch's modules, pydantic's
    # schemas, fx graphs); at the default gen-0 threshold (700) the collector walks them again and again, about a
    # quarter of `snnc compile`'s time. The command's process runs the youngest generation less often (the older
    # ones keep their default ratios, so cycles holding tensors are still freed in long training runs);
    # `import snnc` leaves the collector alone.
    gc.set_threshold(20_000, 10, 10)
    # Why: looking for pydantic plugins scans every installed package's entry points on the first schema, a tenth
    # of `snnc validate`; the command (and the worker processes it starts) loads none unless
    # PYDANTIC_DISABLE_PLUGINS is set (e.g. to an empty value).
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    # Why: a plain `snnc validate SPEC` is the command people run in loops and editors; it needs neither typer
    # nor rich (a fifth of its time). Anything else, and every invalid spec, takes the full command line.
    from snnc.quick import try_validate

    if try_validate(sys.argv[1:]):
        return
    from snnc.cli import main

    main()


if __name__ == "__main__":
    run()
