"""The ingestion pipeline: identify -> gate -> queue -> filter -> evaluate -> store -> release.

Listeners decode and identify, then hand an ``Envelope`` to the bounded ``Intake``; a full
intake makes them wait (and so stop reading their sockets). One writer task takes batches from
the intake, filters them, runs the batch processors (geofencing), writes one transaction and
only then runs each envelope's ``on_commit`` (the held replies, PUBACKs and HTTP responses).
"""
