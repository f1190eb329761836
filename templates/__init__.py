"""Jinja2 texts (`<key>.<lang>.j2`) and web pages. Every sentence a person reads lives here."""
