"""REST edge: Starlette routes for /api/chats.

Reads JSON, calls the resolvers, maps domain errors to statuses.
"""
