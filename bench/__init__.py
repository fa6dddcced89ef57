"""leadflow benchmarks: ``python -m bench NAME [--scale small|full] [--json]``.

Not shipped in the package. Each benchmark runs the same work through a floor (the bare
database or library doing the same job) in the same run and reports the ratio, because
the machines are shared and noisy and only ratios compare across runs.
"""
