"""Measuring retrieval and answers: `clusterqa eval` question sets, BEIR benchmarks, metrics."""
