"""One function per API operation: the whole transaction behind one request.

Handlers call exactly one of these; these call the domain modules and storage. Each runs in
`transact` so a request either happens completely or not at all.
"""
