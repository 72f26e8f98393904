"""Who may do what: bearer tokens carrying a role and the tenants it is scoped to."""
