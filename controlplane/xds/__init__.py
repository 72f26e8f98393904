"""The ECDS server: signed Wasm filter configs pushed to Envoy sidecars.

`snapshot` builds what each node should run from storage, `hub` keeps the current
snapshot and tells streams when it changes (including changes other replicas made),
`sotw` and `delta` are the two xDS protocol variants as transport-free state machines,
`grpc_server` and `rest_transport` put them on the wire.
"""
