"""From a fetched page to clean text and metadata."""
