"""BRAIN's receiver: takes each phase the collector uploads, stores it, returns a prediction."""
