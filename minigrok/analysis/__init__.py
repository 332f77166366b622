"""Analyses and plots of runs."""
