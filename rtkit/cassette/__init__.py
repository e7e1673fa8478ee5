"""rtkit.cassette."""
