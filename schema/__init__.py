"""GraphQL edge (Strawberry): types, thin fields that call the resolvers, error codes."""
