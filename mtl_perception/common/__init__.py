"""Pieces every layer shares: package data lookup, and later constants and shared types."""
