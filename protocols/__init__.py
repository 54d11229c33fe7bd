"""trackgw: protocols."""
