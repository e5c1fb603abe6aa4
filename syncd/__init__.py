"""syncd: how data moves between nodes — node home and config, keys, bundles, transports, daemon."""
