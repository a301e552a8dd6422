"""Documents attached to a case: stored outside the database, checked by content, hashed."""
