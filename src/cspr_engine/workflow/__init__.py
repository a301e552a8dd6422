"""The generic workflow engine: definitions from YAML, guards by name, one door for transitions."""
