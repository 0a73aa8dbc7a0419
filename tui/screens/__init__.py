"""The TUI's screens: overview, endpoint, trace, finding and help."""
