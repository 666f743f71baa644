"""Where entries come from: feeds, sitemaps, discovery, OPML, canonical URLs."""
