"""The model: embeddings, the collection profile, features, scorers (each saves and loads itself),
calibration, reasons and metrics, and the offline evaluation protocol. Pure functions of releases and
collections: nothing here knows Discogs, the database or a chat platform (tests/test_layers.py)."""
