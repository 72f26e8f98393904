"""A derived node credential at each epoch: epoch 0 is the token nodes were given before
epochs existed, and every rotation gives a token unlike any other node's at any epoch."""

from __future__ import annotations

import itertools

from controlplane.telemetry.nodes import derived_token

SECRET = bytes(range(32))
NODE = "sidecar~10.0.0.7~checkout-7d9f8b6c5-x2x9z.shop~shop.svc.cluster.local"


def test_each_epoch_gives_its_own_stable_token() -> None:
    tokens = [derived_token(SECRET, "shop", NODE, epoch) for epoch in range(5)]
    assert tokens[0] == derived_token(SECRET, "shop", NODE)
    assert len(set(tokens)) == 5
    assert tokens == [derived_token(SECRET, "shop", NODE, epoch) for epoch in range(5)]
    assert len({len(token) for token in tokens}) == 1, "every token fits the config's placeholder"


def test_no_node_id_poses_as_another_nodes_later_epoch() -> None:
    # Node ids are the sidecar's to choose, NUL bytes included.
    posers = [NODE + "\0" + suffix for suffix in ("1", "\0\0\0\1", "\1")]
    rotated = {derived_token(SECRET, "shop", NODE, epoch) for epoch in range(1, 4)}
    forged = {
        derived_token(SECRET, "shop", poser, epoch) for poser, epoch in itertools.product(posers, range(4))
    }
    assert not rotated & forged
