"""Domain records and references: a release, a collection item, an import result, what a pasted link or id
refers to. No I/O and no model: every other package speaks in these."""
