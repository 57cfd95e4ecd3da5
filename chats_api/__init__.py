"""chats-api: the app assembly, command line, settings, middleware and Piccolo configuration
that tie the card's folders (rest, schema, resolvers, db) together."""
