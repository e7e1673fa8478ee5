"""rtkit.protocol."""
