"""Tables, sessions and migrations. Imports nothing from `workflows` or `bot`."""
