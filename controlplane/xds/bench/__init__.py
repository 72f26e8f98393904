"""`meshveil bench xds`: a real control plane process, a fleet of simulated sidecars holding
ECDS streams, and the time from a policy change over REST until every sidecar ACKed it."""
