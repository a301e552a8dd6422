"""cspr_engine: statutory workflow engine for serious child safeguarding incidents in England."""

__version__ = "0.1.0"
