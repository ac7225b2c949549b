"""Live Discogs: one gateway over python3-discogs-client, a shared rate limiter, barcode normalisation, and the
collection sync and detail enricher built on them."""
