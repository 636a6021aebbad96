"""CLI command modules beyond the core ones in :mod:`snnc.cli`.

Each module here defines its commands on a :class:`snnc.clitools.CommandSet` named ``commands`` (never importing
:mod:`snnc.cli`), imports nothing heavy at module level (torch is imported inside the command functions), and is
listed in :data:`COMMAND_MODULES`, whose order is that of ``snnc --help``; :func:`snnc.cli.build_app` registers
them.
"""

COMMAND_MODULES: tuple[str, ...] = ("train", "convert", "report", "zoo", "mnn", "export", "study")
