"""Data files: feeds, cleaning rules, topic taxonomy (package data so installed CLIs find them)."""
