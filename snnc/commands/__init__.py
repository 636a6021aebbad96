"""CLI command modules beyond the core ones in :mod:`snnc.cli`.

Each module here registers its commands on :data:`snnc.cli.app` when imported, imports nothing heavy at
module level (torch is imported inside the command functions), and is listed in :data:`COMMAND_MODULES`.
"""

COMMAND_MODULES: tuple[str, ...] = ("train", "convert", "report", "zoo", "mnn", "export", "study")
