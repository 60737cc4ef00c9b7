"""Reusable widgets of the chat screen."""
