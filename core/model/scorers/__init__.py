"""Scorers: one interface (base.Scorer), one contract test every scorer passes (tests/test_scorer_contract.py)."""
