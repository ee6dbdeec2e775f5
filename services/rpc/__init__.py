"""Client-side gRPC plumbing of the services (channels, paging); the server side is
``ml2_driver_sdk.runtime``, shared with driver processes."""
