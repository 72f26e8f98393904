"""The meshveil control plane: policies, detector compiler, signing, module build and validation."""
