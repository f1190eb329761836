"""Conversation flows, the ticket lifecycle and everything that decides; no transport here."""
