"""Linked cases (typed links between cases, or to another partnership's case by its reference)
and read-only shares of a case with another partnership."""
