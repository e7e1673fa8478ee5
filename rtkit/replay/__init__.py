"""rtkit.replay."""
