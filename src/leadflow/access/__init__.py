"""Who may call the API: API keys with roles, and the replay records of idempotent requests."""
