"""Zero trust for what the control plane ships: signed modules with capability claims,
DSSE-signed filter configs, trust roots with k-of-n thresholds, rotation and revocation.
"""
