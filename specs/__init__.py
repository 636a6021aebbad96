"""Bundled model-zoo specs (the YAML files beside this module)."""
