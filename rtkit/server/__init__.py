"""rtkit.server."""
