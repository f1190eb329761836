"""Channel adapters: parse a platform's update into an `Envelope`; draw an `OutMessage`. Each
module declares its channel once, as a `SPEC` (spec.py); registry.py lists them for the app."""
