// The GraphiQL page of chats-api. A file of its own (not an inline script), so that the page's
// Content-Security-Policy can allow scripts from the service's own origin only.
(function () {
  "use strict";

  const EXAMPLE_QUERY = `# chats-api. Put your key in the Headers pane below:
#   {"x-api-key": "chats_..."}
# then run this mutation (Ctrl-Enter), or start the subscription in another tab.

mutation CreateChat {
  createChat(input: {topic: "Release plan"}) {
    chat { id title accountId sessionId updatedAt artistId }
  }
}

subscription ChatEvents {
  chatEvents { type chat { id title updatedAt } }
}
`;

  const url = window.location.origin + window.location.pathname;
  const subscriptionUrl = url.replace(/^http/, "ws");

  // GraphiQL sends the Headers pane with every HTTP request, but a subscription's WebSocket
  // carries its key in the connection_init payload: one fetcher per set of headers, whose
  // graphql-ws client sends those headers as its connectionParams.
  const fetchers = new Map();
  function fetcherFor(headers) {
    const key = JSON.stringify(headers || {});
    if (!fetchers.has(key)) {
      fetchers.set(
        key,
        GraphiQL.createFetcher({ url, subscriptionUrl, wsConnectionParams: headers || {} }),
      );
    }
    return fetchers.get(key);
  }
  function fetcher(params, options) {
    return fetcherFor(options && options.headers)(params, options);
  }

  const explorer = GraphiQLPluginExplorer.explorerPlugin();
  const root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(
    React.createElement(GraphiQL, {
      fetcher,
      plugins: [explorer],
      defaultQuery: EXAMPLE_QUERY,
      defaultEditorToolsVisibility: true,
      isHeadersEditorEnabled: true,
      shouldPersistHeaders: true,
      inputValueDeprecation: true,
    }),
  );
})();
