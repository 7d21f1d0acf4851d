// Starts GraphiQL on the page's #graphiql element, against this server's /graphql (queries
// and mutations over HTTP, subscriptions over its WebSocket). Served as a file of its own so
// the page needs no inline script.
(function () {
  var socket = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/graphql';
  var fetcher = GraphiQL.createFetcher({ url: '/graphql', subscriptionUrl: socket });
  var root = ReactDOM.createRoot(document.getElementById('graphiql'));
  root.render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultEditorToolsVisibility: 'headers',
      shouldPersistHeaders: false,
      defaultQuery:
        '# Put your key in the Headers tab below:\n' +
        '#   { "Authorization": "Bearer <your key>" }\n' +
        '# Headers are never stored by the browser.\n\n' +
        '{\n  campaigns {\n    id\n    name\n    status\n  }\n}\n',
    })
  );
})();
