"""The plugin system: hook specifications and the loader that builds the plugin manager."""
