"""trackgw: geofence."""
