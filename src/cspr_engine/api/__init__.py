"""The REST API's assembly: routers mounted under /api/v1, OpenAPI export."""
