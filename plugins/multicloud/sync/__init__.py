"""Residency-aware data sync: planning, object copy, record routing, validation."""
