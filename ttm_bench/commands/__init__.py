"""Sub-commands of the `ttm-bench` CLI, one module per command group."""
