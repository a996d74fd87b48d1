"""Typed shapes of the request bodies (SPEC §4, §5), validated with msgspec.

They are the single source for validation *and* for the OpenAPI document: a field's
`Meta(description=…)` is what the docs page shows.
"""
