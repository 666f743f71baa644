"""newsbeam application: CLI, config, graph wiring."""
