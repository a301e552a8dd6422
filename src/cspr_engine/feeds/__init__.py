"""Calendar feeds: a user's revocable iCalendar subscription to the clocks of the cases they
may read."""
