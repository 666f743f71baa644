"""Where records end up: Parquet sinks, dead letters, memory across runs."""
