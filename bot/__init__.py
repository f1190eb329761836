"""Channels (Telegram, web chat) and the process entry point of Satupintu."""
