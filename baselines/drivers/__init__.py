"""Driver scripts run inside upstream environments by `baselines.external` presets."""
