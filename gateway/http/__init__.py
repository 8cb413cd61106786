"""HTTP adapter: the admin API (aiohttp), its validation, auth and OpenAPI document."""
