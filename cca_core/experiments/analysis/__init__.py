"""Analyses of trained networks and synthetic data: comparisons, clustering, convergence, sequences, costs, the measures' own checks."""
