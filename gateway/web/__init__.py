"""The live page, served at ``/``: its sources in ``src/``, bundled into ``dist/`` by ``make web``
(Leaflet from the npm registry, pinned by ``package-lock.json``; nothing is fetched at run time)."""
