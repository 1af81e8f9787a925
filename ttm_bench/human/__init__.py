"""Pairwise human preference studies: spec, assignment, votes store, rating app, analysis."""
