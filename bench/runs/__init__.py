"""One run end to end: plan, execute, write, store; training reuse, sweeps, cluster jobs and the
conformance checks."""
