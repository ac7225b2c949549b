"""Getting collections in: readers for every file a collector may give (CSV export, API pages, bundled JSON,
the monthly dump XML) and the offline catalogue, plus the genre/style vocabulary."""
