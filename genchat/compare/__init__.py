"""A comparison of models on one prompt, without a screen: each pane's figures, a word-level
diff of two replies, and the session as Markdown (`comparison`).

May import only the vocabulary.
"""
