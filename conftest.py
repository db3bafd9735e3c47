"""The suite's plugin is loaded from the installed package (pytest11 entry point)."""
