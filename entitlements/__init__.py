"""trackgw: entitlements."""
