"""trackgw: geofence — places, spatial prefilter, vectorised evaluation, hysteresis, airports.

Pure: handed arrays and state, returns transitions and changed state rows; no I/O.
See :mod:`geofence.engine` for the call sequence and ``docs/geofencing.md`` for the rules.
"""

from .airports import DEFAULT_AIRPORT_RADIUS_M, airport_index, airport_name, airport_places
from .confirm import DEFAULT_CONFIRM, IMMEDIATE, Confirm, PlaceConfirm
from .engine import Batch, Evaluation, Rules, Zones, confirm_due, evaluate
from .errors import GeofenceError, InvalidGeometry
from .index import PlaceIndex
from .places import Place, PlaceKind, place_from_feature, places_from_geojson
from .records import NO_FIX, DeviceFix, PlaceState, Transition, TransitionKind
from .state import GeofenceState

__all__ = [
    "DEFAULT_AIRPORT_RADIUS_M",
    "DEFAULT_CONFIRM",
    "IMMEDIATE",
    "NO_FIX",
    "Batch",
    "Confirm",
    "DeviceFix",
    "Evaluation",
    "GeofenceError",
    "GeofenceState",
    "InvalidGeometry",
    "Place",
    "PlaceConfirm",
    "PlaceIndex",
    "PlaceKind",
    "PlaceState",
    "Rules",
    "Transition",
    "TransitionKind",
    "Zones",
    "airport_index",
    "airport_name",
    "airport_places",
    "confirm_due",
    "evaluate",
    "place_from_feature",
    "places_from_geojson",
]
