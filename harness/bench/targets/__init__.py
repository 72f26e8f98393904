"""One module per `meshveil bench` target; each defines `TARGET` (see `harness.bench.registry`)."""
