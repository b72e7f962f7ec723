"""The HTTP prediction service: the app, its page and the micro-batching of requests."""
