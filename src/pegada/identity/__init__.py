"""Identity: normalising the keys a contact is matched by, and matching/linking contacts."""
