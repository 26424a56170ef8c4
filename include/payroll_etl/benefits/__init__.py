"""Benefit bases mart: pension and WIA-excedent bases per employment (issue 10, docs/benefits.md)."""
