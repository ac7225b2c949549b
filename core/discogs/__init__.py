"""Live Discogs: one gateway over python3-discogs-client, a shared rate limiter, barcode normalisation."""
