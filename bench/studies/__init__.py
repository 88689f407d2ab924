"""Questions asked of the suite (`bench regress`, `bench perf`, the GPU check, `bench codes-gap`,
`bench eval-cost`, ...): beside the harness, never imported by it."""
