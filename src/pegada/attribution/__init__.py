"""Traffic-source attribution: which channel type (SPEC §6) a landing belongs to.

The rules and the mapped sources are data (`channels.json`), loaded and validated once;
an operator extends the file (or points `PEGADA_CHANNEL_RULES` at their own copy) instead
of changing code.
"""
