"""The `lag` command line."""
