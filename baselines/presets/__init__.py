"""Per-baseline presets for `baselines.external` (YAML data, one file per model)."""
