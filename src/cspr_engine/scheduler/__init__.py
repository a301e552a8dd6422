"""The scheduler: it only wakes the sweep and the delivery; the database holds the truth."""
