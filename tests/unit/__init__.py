"""trackgw tests."""
