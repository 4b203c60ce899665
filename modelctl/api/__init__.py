"""The HTTP API: registry, router and auto-upgrade services over the same use cases as the CLI."""
