"""The research harness: code the benchmarks and tests use that users do not run (locator training, the photo
renderer for tests, training diagnostics, the checkpoint weight-name table's generator)."""
