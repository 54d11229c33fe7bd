"""The ingestion pipeline, one module per stage, in the order data flows:

route (``route``: messages -> envelopes; the gate: ``identify`` + the entitlement gate) ->
``intake`` (bounded by positions and bytes) -> ``batcher`` (the chain, on one ``batch.Batch``)
-> ``filters`` -> ``geofence`` -> ``commit`` (one transaction; refused rows dead-lettered) ->
``deliver`` (held acknowledgements released, then alerts and live positions).

Each stage is handed the batch and returns its result on it; see docs/architecture.md.
"""
