"""`meshveil demo`: a control plane on the embedded default, the bundled sample traffic
replayed through the filters in the harness with a sample policy, their telemetry fed to
the plane's collector, and a summary of what was found, masked, blocked and flagged."""
