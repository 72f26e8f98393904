"""Replay: recorded traffic through a chain of plugins, with reports of what each filter did."""
