"""Statutory clocks: the working-day calendar and, from it, every deadline."""
