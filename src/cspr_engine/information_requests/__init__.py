"""Information requests: the business unit asks an involved agency for its information return
(chronology, agency summary) for a rapid review; the agency answers."""
