"""Reports: the timeliness and activity report of a partnership's cases for a period (JSON or
CSV), and the CSV export of the cases a caller can read."""
