"""Channel adapters: parse a platform's update into an `Envelope`; draw an `OutMessage`."""
