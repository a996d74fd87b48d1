"""The page-hit pipeline: validate → drop (bots, unknown tenants, refused origins) →
enrich (user agent, URL, referrer, campaign, channel type) → batch-write with group commit.
A dropped hit always has a named reason and is counted."""
