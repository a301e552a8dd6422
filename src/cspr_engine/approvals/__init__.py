"""Approval gates: decisions that several parties must each cast (the DSP joint decision)."""
