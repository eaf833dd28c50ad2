"""Data the classifier layers read: type bases, code tables, the learned model (JSON)."""
