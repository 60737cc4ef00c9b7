"""A conversation as a chat holds it: its turns, what each one shows, and what goes to the model
next. The chat screen draws its message widgets from this model, and builds each request from
it, never from what is mounted.

Imports the vocabulary and the history's records (to make turns of stored messages); no face,
no Textual.
"""
