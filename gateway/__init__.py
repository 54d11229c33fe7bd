"""trackgw: gateway."""
