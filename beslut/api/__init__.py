"""The HTTP API of `beslut` (its app factory arrives with the API itself); here: operators' metrics and probes."""
