"""Discover: personal picks from the candidate catalogue (retrieval by several probes, the user's model re-ranks,
MMR spreads artists, labels and styles), by words and mood too. Knows no chat platform."""
from core.picks.service import Discoverer, Pick, Picks

__all__ = ["Discoverer", "Pick", "Picks"]
