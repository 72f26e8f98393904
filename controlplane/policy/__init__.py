"""The policy document a platform team writes: routes, detectors, actions, targets, tenant.

`model` holds the pydantic types, `load` turns YAML or JSON text into a validated
`Policy` (errors name the field path), `compile` turns a policy into each filter's
config payload, and `diff` compares two versions.
"""
