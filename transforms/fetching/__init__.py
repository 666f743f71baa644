"""Getting pages over HTTP: the careful GET, article fetching, politeness, in-flight work."""
