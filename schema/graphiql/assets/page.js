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

  // GraphiQL keeps its tabs and history in the browser's storage, and its history holds each
  // run's headers, the key among them, even with shouldPersistHeaders off. Whatever it stores
  // goes through here, every "headers" value emptied first: the key stays in the page.
  function withoutHeaders(value) {
    if (Array.isArray(value)) return value.map(withoutHeaders);
    if (value === null || typeof value !== "object") return value;
    const copy = {};
    for (const [name, item] of Object.entries(value)) {
      copy[name] = name === "headers" ? "" : withoutHeaders(item);
    }
    return copy;
  }
  const storage = {
    getItem: (name) => window.localStorage.getItem(name),
    setItem: (name, value) => {
      let kept = value;
      try {
        kept = JSON.stringify(withoutHeaders(JSON.parse(value)));
      } catch (_) {
        // not JSON: GraphiQL's plain values (the theme, pane sizes) hold no headers
      }
      window.localStorage.setItem(name, kept);
    },
    removeItem: (name) => window.localStorage.removeItem(name),
    clear: () => window.localStorage.clear(),
    get length() {
      return window.localStorage.length;
    },
  };

  const explorer = GraphiQLPluginExplorer.explorerPlugin();
  const root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(
    React.createElement(GraphiQL, {
      fetcher,
      storage,
      plugins: [explorer],
      defaultQuery: EXAMPLE_QUERY,
      defaultEditorToolsVisibility: true,
      isHeadersEditorEnabled: true,
      // The key typed in the Headers pane stays in this page: never in the browser's storage.
      shouldPersistHeaders: false,
      inputValueDeprecation: true,
    }),
  );
})();
