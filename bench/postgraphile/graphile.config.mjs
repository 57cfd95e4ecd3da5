// PostGraphile 5 as the benchmark's peer: its generated `createChat` mutation, from the SQL
// function in create_chat.sql, over the service's own tables. The key travels as the service's
// does (an `x-api-key` header) and is checked in SQL, as the service checks it.
import { makePgService } from "postgraphile/adaptors/pg";
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";

export default {
  extends: [PostGraphileAmberPreset],
  // The tables' own CRUD mutations off: `createChat` is the function's, the service's work.
  disablePlugins: ["PgMutationCreatePlugin", "PgMutationUpdateDeletePlugin"],
  pgServices: [
    makePgService({ connectionString: process.env.DATABASE_URL, schemas: ["public"] }),
  ],
  grafast: {
    context(requestContext) {
      const request = requestContext.node?.req;
      return { pgSettings: { "chats.api_key": String(request?.headers["x-api-key"] ?? "") } };
    },
  },
  grafserv: { graphiql: false, watch: false },
};
