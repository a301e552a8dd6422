"""Domain-agnostic helpers: time, ids, database column types, pagination, request ids."""
