"""The config: resolvers, start-up validation, typed settings and secret redaction."""
