"""The request and its resolution: RunSpec, `--set` overrides, the family registry, RunConfig."""
