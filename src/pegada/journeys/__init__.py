"""Journeys: page hits grouped into visits, and the first/last touch of each contact."""
