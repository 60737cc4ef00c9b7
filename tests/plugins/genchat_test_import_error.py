"""A test plugin that fails at import, as one with a missing dependency does."""

raise ImportError("this plugin needs libmissing, which is not installed")
