"""Exports of a case: the rapid review submission pack (Markdown, Word) and the full record as
JSON (for a Panel request or a subject access request)."""
