// The graphql-http package's server audit against a running chats-api.
// Usage: node audit.mjs http://127.0.0.1:8000/graphql   (prints the results as JSON)
import { auditServer } from 'graphql-http';

const url = process.argv[2];
const results = await auditServer({ url });
console.log(JSON.stringify(results.map(({ id, name, status, reason }) => ({ id, name, status, reason }))));
