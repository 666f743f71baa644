"""newsbeam stage library: one module per stage plus records."""
