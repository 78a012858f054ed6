"""BRAIN's end-to-end demo on embedded defaults (local processes, sqlite, local folders)."""
