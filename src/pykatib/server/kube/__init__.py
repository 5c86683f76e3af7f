"""The Kubernetes API's protocol pieces: discovery, OpenAPI, errors, tables, selectors, patches."""
