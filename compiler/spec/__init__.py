"""The spec language: YAML read safely, validated by pydantic models in the user's vocabulary."""
