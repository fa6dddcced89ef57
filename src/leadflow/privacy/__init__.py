"""Privacy requests: everything held about a person, and erasure that keeps anonymous aggregates."""
