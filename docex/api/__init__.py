"""HTTP face of the node: dependencies, the one error handler, metrics middleware, routers."""
